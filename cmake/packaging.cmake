# cmake/packaging.cmake: install rules and the Debian package (CPack DEB). Included at the end of
# CMakeLists.txt. scripts/package builds the package; tests/package/test_package.sh installs it and checks it.
#
#   cmake -S . -B build/package -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DWIDGETD_TESTS=OFF
#   cmake --build build/package && (cd build/package && cpack -G DEB)
#
# Installed (with CMAKE_INSTALL_PREFIX=/usr, as in the package):
#   /usr/bin/widgetd
#   /etc/widgetd/widgetd.conf                  conffile: a local edit survives an upgrade
#   /lib/systemd/system/widgetd.service        systemd's systemdsystemunitdir (pkg-config systemd)
#   /usr/share/man/man8/widgetd.8.gz, /usr/share/man/man5/widgetd.conf.5.gz   (gzip -9n)
#   /usr/share/doc/widgetd/{README.md.gz,changelog.gz,copyright}
# /etc/widgetd and the unit directory are absolute paths, fixed at configure time: stage an install
# with DESTDIR (as CPack does), not with `cmake --install --prefix`, which would still write to them.
# The version is project(VERSION) alone: `widgetd --version` (WIDGETD_VERSION), the package version and
# the changelog entry all come from it.

include(GNUInstallDirs)

set(WD_PKG_DIR ${PROJECT_SOURCE_DIR}/packaging/deb)

# The daemon reads /etc/widgetd/widgetd.conf (daemon/config.h) and the unit starts /usr/bin/widgetd:
# other prefixes install, but the installed files would not find each other.
if(NOT CMAKE_INSTALL_FULL_BINDIR STREQUAL "/usr/bin" OR NOT CMAKE_INSTALL_FULL_SYSCONFDIR STREQUAL "/etc")
  message(STATUS "widgetd: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}: the unit runs /usr/bin/widgetd "
    "and widgetd reads /etc/widgetd/widgetd.conf; use -DCMAKE_INSTALL_PREFIX=/usr for a working install")
endif()

# The systemd system unit directory: /lib/systemd/system on Debian 12 (not yet merged /usr).
pkg_get_variable(WD_SYSTEMD_PC_UNITDIR systemd systemdsystemunitdir)
if(NOT WD_SYSTEMD_PC_UNITDIR)
  set(WD_SYSTEMD_PC_UNITDIR /lib/systemd/system)
endif()
set(WIDGETD_SYSTEMD_UNITDIR ${WD_SYSTEMD_PC_UNITDIR} CACHE PATH "Where widgetd.service is installed")

# Man pages and the README, gzipped -9n (no name or time stamp: the same bytes on every build).
find_program(WD_GZIP gzip REQUIRED)
set(WD_DOC_BUILD ${PROJECT_BINARY_DIR}/doc)
string(TIMESTAMP WD_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC) # SOURCE_DATE_EPOCH wins
configure_file(${WD_PKG_DIR}/changelog.in ${WD_DOC_BUILD}/changelog.src @ONLY)
set(WD_DOC_GZ)
foreach(pair "daemon/widgetd.8;widgetd.8" "daemon/widgetd.conf.5;widgetd.conf.5" "README.md;README.md"
             "@changelog;changelog")
  list(GET pair 0 src)
  list(GET pair 1 name)
  if(src STREQUAL "@changelog")
    set(src ${WD_DOC_BUILD}/changelog.src)
  else()
    set(src ${PROJECT_SOURCE_DIR}/${src})
  endif()
  add_custom_command(OUTPUT ${WD_DOC_BUILD}/${name}.gz
    COMMAND ${CMAKE_COMMAND} -E copy ${src} ${WD_DOC_BUILD}/${name}
    COMMAND ${WD_GZIP} -9nf ${WD_DOC_BUILD}/${name}
    DEPENDS ${src} VERBATIM)
  list(APPEND WD_DOC_GZ ${WD_DOC_BUILD}/${name}.gz)
endforeach()
add_custom_target(widgetd_docs ALL DEPENDS ${WD_DOC_GZ})

set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
  GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(WD_FILE_PERMS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(WD_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/widgetd)

install(TARGETS widgetd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# A stripped install (cmake --install --strip, CPACK_STRIP_FILES) also drops the compilers' .comment
# and .note sections, as Debian's dh_strip does (the build ID, .note.gnu.build-id, stays).
if(CMAKE_OBJCOPY)
  install(CODE "if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_OBJCOPY}\" --remove-section=.comment --remove-section=.note
      \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_BINDIR}/widgetd\" COMMAND_ERROR_IS_FATAL ANY)
  endif()")
endif()
# World-readable: the unit runs widgetd as a dynamic user. It holds no secret (credentials never go here).
install(FILES conf/widgetd.conf DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/widgetd PERMISSIONS ${WD_FILE_PERMS})
install(FILES systemd/widgetd.service DESTINATION ${WIDGETD_SYSTEMD_UNITDIR} PERMISSIONS ${WD_FILE_PERMS})
install(FILES ${WD_DOC_BUILD}/widgetd.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 PERMISSIONS ${WD_FILE_PERMS})
install(FILES ${WD_DOC_BUILD}/widgetd.conf.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 PERMISSIONS ${WD_FILE_PERMS})
install(FILES ${WD_DOC_BUILD}/README.md.gz ${WD_DOC_BUILD}/changelog.gz ${WD_PKG_DIR}/copyright
  DESTINATION ${WD_DOCDIR} PERMISSIONS ${WD_FILE_PERMS})

# --- CPack: one Debian binary package, widgetd_<version>_<arch>.deb -------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME widgetd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "widgetd maintainers <maintainers@users.noreply.b-seed-07e482d4.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "widget request consumer: S3 bucket to S3 or DynamoDB")
# Lines of at most 78 characters (Debian wants at most 80 with dpkg's leading space).
set(CPACK_PACKAGE_DESCRIPTION "\
widgetd drains widget requests (JSON create, update and delete requests that
a producer drops into an S3 bucket) into a widget store, an S3 bucket or a
DynamoDB table, and deletes each request once its effect is durably stored.
Requests that break the contract are set aside in a dead-letter location with
the reason, never dropped.

It runs as a systemd service (Type=notify, watchdog, reload on SIGHUP,
sandboxed), logs to the journal with per-request fields, and takes its AWS
credentials from an instance or container role, or from a shared credentials
file passed in with LoadCredential=. The package installs the service without
enabling or starting it.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE WD_DEB_ARCH
  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE WD_DPKG_RC ERROR_QUIET)
if(WD_DPKG_RC EQUAL 0 AND WD_DEB_ARCH)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${WD_DEB_ARCH})
endif()
# Libraries: dpkg-shlibdeps on the binary. Plus what is not linked: the CA certificates that libcurl
# verifies AWS's TLS with (libcurl4 only recommends them), and /bin/kill (procps) for ExecReload=.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "ca-certificates, procps")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "awscli")
set(CPACK_STRIP_FILES ON)
# Maintainer scripts (nothing enabled or started by surprise), the conffiles list (CPack does not
# derive it), installed with dpkg's expected modes (0755 scripts, 0644 lists).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${WD_PKG_DIR}/conffiles ${WD_PKG_DIR}/postinst ${WD_PKG_DIR}/prerm ${WD_PKG_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what the install rules above name: no CPack defaults for source or other generators.
set(CPACK_SOURCE_GENERATOR "")
include(CPack)

# The package's test (tests/package/test_package.sh): builds the .deb, installs it on this machine,
# checks it and purges it. Needs root and dpkg, so it has its own label: ctest -L package.
if(WIDGETD_TESTS)
  add_test(NAME package_test_package COMMAND bash ${PROJECT_SOURCE_DIR}/tests/package/test_package.sh)
  set_tests_properties(package_test_package PROPERTIES LABELS package TIMEOUT 900 RUN_SERIAL ON)
endif()
