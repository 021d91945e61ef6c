/* Unit tests for s3_xml.c: ListObjectsV2 pages (URL-encoded or not) and <Error> documents, well-formed,
 * malformed and hostile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "s3_xml.h"

/* The shape of the example in the S3 API reference for ListObjectsV2 (a complete, one-page listing). */
static const char LIST_COMPLETE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
    "  <Name>widget-requests</Name>\n"
    "  <Prefix></Prefix>\n"
    "  <KeyCount>3</KeyCount>\n"
    "  <MaxKeys>1000</MaxKeys>\n"
    "  <IsTruncated>false</IsTruncated>\n"
    "  <Contents>\n"
    "    <Key>1612306370542</Key>\n"
    "    <LastModified>2021-02-02T22:52:51.000Z</LastModified>\n"
    "    <ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag>\n"
    "    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>\n"
    "    <Size>857</Size>\n"
    "    <StorageClass>STANDARD</StorageClass>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>1612306370999</Key>\n"
    "    <LastModified>2021-02-02T22:52:52.000Z</LastModified>\n"
    "    <ETag>\"fba9dede5f27731c9771645a39863328\"</ETag>\n"
    "    <Size>434234</Size>\n"
    "    <Owner>\n"
    "      <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
    "      <DisplayName>mtd@amazon.com</DisplayName>\n"
    "    </Owner>\n"
    "    <StorageClass>STANDARD_IA</StorageClass>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>dead-letter/1612306370000</Key>\n"
    "    <LastModified>2021-02-02T22:52:53.000Z</LastModified>\n"
    "    <ETag>\"1b2cf535f27731c974343645a3985328\"</ETag>\n"
    "    <Size>64994</Size>\n"
    "    <StorageClass>STANDARD</StorageClass>\n"
    "    <RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>\n"
    "  </Contents>\n"
    "  <CommonPrefixes><Prefix>not-a-key/</Prefix></CommonPrefixes>\n"
    "</ListBucketResult>\n";

static const char LIST_TRUNCATED[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
    "  <Name>widget-requests</Name>\n"
    "  <Prefix></Prefix>\n"
    "  <KeyCount>2</KeyCount>\n"
    "  <MaxKeys>2</MaxKeys>\n"
    "  <IsTruncated>true</IsTruncated>\n"
    "  <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>\n"
    "  "
    "<NextContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==</"
    "NextContinuationToken>\n"
    "  <StartAfter>a</StartAfter>\n"
    "  <Contents><Key>b</Key><Size>1</Size></Contents>\n"
    "  <Contents><Key>c</Key><Size>1</Size></Contents>\n"
    "</ListBucketResult>";

static const char LIST_EMPTY[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                 "<Name>widget-requests</Name><Prefix/><KeyCount>0</KeyCount>"
                                 "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
                                 "</ListBucketResult>";

static const char ERROR_DOC[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error>\n"
    "  <Code>SignatureDoesNotMatch</Code>\n"
    "  <Message>The request signature we calculated does not match the signature you provided. Check your "
    "key and signing method.</Message>\n"
    "  <AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>\n"
    "  <StringToSign>AWS4-HMAC-SHA256\n20210202T225251Z</StringToSign>\n"
    "  <RequestId>4442587FB7D0A2F9</RequestId>\n"
    "  <HostId>bWVzc2FnZQ==</HostId>\n"
    "</Error>\n";

static int parse_str(const char *xml, struct wd_s3_list *out, struct wd_error *err)
{
    return wd_s3_list_parse(xml, strlen(xml), out, err);
}

static void test_list_complete(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(LIST_COMPLETE, &l, &err), 0);
    assert_int_equal(l.n_keys, 3);
    assert_string_equal(l.keys[0], "1612306370542");
    assert_string_equal(l.keys[1], "1612306370999");
    assert_string_equal(l.keys[2], "dead-letter/1612306370000");
    assert_false(l.truncated);
    assert_null(l.next_token);
    wd_s3_list_clear(&l);
    assert_null(l.keys);
    assert_int_equal(l.n_keys, 0);
}

/* The archived classes show in the listing, wherever <StorageClass> stands in its <Contents>. */
static void test_list_storage_class(void **state)
{
    (void)state;
    static const char xml[] =
        "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a</Key><StorageClass>GLACIER</StorageClass></Contents>"
        "<Contents><StorageClass> DEEP_ARCHIVE </StorageClass><Key>b</Key></Contents>"
        "<Contents><Key>c</Key><StorageClass>GLACIER_IR</StorageClass></Contents>"
        "<Contents><Key>d</Key><StorageClass>INTELLIGENT_TIERING</StorageClass></Contents>"
        "<Contents><Key>e</Key></Contents>"
        "<Contents><Key>f</Key><StorageClass>STANDARD</StorageClass></Contents>"
        "</ListBucketResult>";
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 6);
    assert_string_equal(l.archived[0], "GLACIER");
    assert_string_equal(l.archived[1], "DEEP_ARCHIVE");
    for (size_t i = 2; i < 6; i++)
        assert_null(l.archived[i]);
    wd_s3_list_clear(&l);
    assert_null(l.archived);

    /* A class name longer than any S3 has is a server fault, not a reason to guess. */
    static const char longer[] =
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
        "<StorageClass>XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "</StorageClass></Contents></ListBucketResult>";
    assert_int_equal(parse_str(longer, &l, &err), -1);
    assert_null(l.keys);
}

static void test_list_truncated(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(LIST_TRUNCATED, &l, &err), 0);
    assert_int_equal(l.n_keys, 2);
    assert_string_equal(l.keys[0], "b");
    assert_string_equal(l.keys[1], "c");
    assert_true(l.truncated);
    /* The next page starts after the last key, where NextContinuationToken would continue. */
    assert_string_equal(l.next_token, "kc");
    wd_s3_list_clear(&l);
}

static void test_list_empty(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(LIST_EMPTY, &l, &err), 0);
    assert_int_equal(l.n_keys, 0);
    assert_false(l.truncated);
    assert_null(l.next_token);
    wd_s3_list_clear(&l);
}

/* A token on a complete page is dropped, so next_token != NULL means exactly "there is more". */
static void test_list_token_without_truncation_is_dropped(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str("<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "<NextContinuationToken>abc</NextContinuationToken>"
                               "<Contents><Key>k</Key></Contents></ListBucketResult>",
                               &l, &err),
                     0);
    assert_int_equal(l.n_keys, 1);
    assert_null(l.next_token);
    wd_s3_list_clear(&l);
}

static void test_list_entities_and_utf8(void **state)
{
    (void)state;
    static const char xml[] =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a&amp;b&lt;c&gt;d&quot;e&apos;f</Key></Contents>"
        "<Contents><Key>price &#x20AC;5 &#8364;6 &#65;</Key></Contents>"
        "<Contents><Key>z\xc3\xbcrich/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80</Key></Contents>"
        "<Contents><Key><![CDATA[x&y<z>]]></Key></Contents>"
        "<Contents><Key>  spaced key  </Key></Contents>"
        "<Contents><Key>line1&#xA;line2&#x9;tab</Key></Contents>"
        "</ListBucketResult>";
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 6);
    assert_string_equal(l.keys[0], "a&b<c>d\"e'f");
    assert_string_equal(l.keys[1], "price \xe2\x82\xac"
                                   "5 \xe2\x82\xac"
                                   "6 A");
    assert_string_equal(l.keys[2], "z\xc3\xbcrich/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80");
    assert_string_equal(l.keys[3], "x&y<z>");
    /* Keys are taken as given: no trimming. */
    assert_string_equal(l.keys[4], "  spaced key  ");
    assert_string_equal(l.keys[5], "line1\nline2\ttab");
    wd_s3_list_clear(&l);
}

/* Local names are matched, so a stand-in without S3's namespace, or with a prefix, parses alike. */
static void test_list_namespaces(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>"
        "<Contents><Key>k</Key></Contents></ListBucketResult>",
        "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<s3:IsTruncated>true</s3:IsTruncated><s3:NextContinuationToken>t</s3:NextContinuationToken>"
        "<s3:Contents><s3:Key>k</s3:Key></s3:Contents></s3:ListBucketResult>",
        /* Whitespace ahead of the XML declaration, as S3 sends to keep slow responses alive. */
        "  \r\n\t <?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>t</NextContinuationToken><Contents><Key>k</Key></Contents></"
        "ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct wd_s3_list l = {0};
        struct wd_error err = {0};
        assert_int_equal(parse_str(docs[i], &l, &err), 0);
        assert_int_equal(l.n_keys, 1);
        assert_string_equal(l.keys[0], "k");
        assert_true(l.truncated);
        assert_string_equal(l.next_token, "kk");
        wd_s3_list_clear(&l);
    }
}

static char *list_with_key(const char *key)
{
    struct wd_buf b = {0};
    assert_int_equal(
        wd_buf_printf(&b, "<ListBucketResult><Contents><Key>%s</Key></Contents></ListBucketResult>", key), 0);
    return wd_buf_steal(&b);
}

static void test_list_key_length_limit(void **state)
{
    (void)state;
    char key[1026];
    memset(key, 'k', 1024);
    key[1024] = '\0';
    char *xml = list_with_key(key);
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 1);
    assert_int_equal(strlen(l.keys[0]), 1024);
    assert_string_equal(l.keys[0], key);
    wd_s3_list_clear(&l);
    free(xml);

    /* 1024 bytes made of 3-byte characters and entities: the limit is in decoded UTF-8 bytes. */
    struct wd_buf b = {0};
    for (int i = 0; i < 341; i++)
        assert_int_equal(wd_buf_append_str(&b, i % 2 ? "&#x20AC;" : "\xe2\x82\xac"), 0);
    assert_int_equal(wd_buf_append_str(&b, "x"), 0);
    xml = list_with_key(b.data);
    wd_buf_free(&b);
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(strlen(l.keys[0]), 1024);
    wd_s3_list_clear(&l);
    free(xml);

    key[1024] = 'k';
    key[1025] = '\0';
    xml = list_with_key(key);
    assert_int_equal(parse_str(xml, &l, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_non_null(strstr(err.message, "1024"));
    assert_null(l.keys);
    free(xml);
}

static void test_list_many_keys(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "<ListBucketResult><IsTruncated>false</IsTruncated>"), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(wd_buf_printf(&b, "<Contents><Key>%04d</Key><Size>%d</Size></Contents>", i, i), 0);
    assert_int_equal(wd_buf_append_str(&b, "</ListBucketResult>"), 0);
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_s3_list_parse(b.data, b.len, &l, &err), 0);
    assert_int_equal(l.n_keys, 1000);
    for (int i = 0; i < 1000; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%04d", i);
        assert_string_equal(l.keys[i], want);
    }
    wd_s3_list_clear(&l);
    wd_buf_free(&b);
}

/* Each must fail with WD_ERR_TRANSIENT (the server's fault: retry) and leave out untouched. */
static void expect_list_rejected(const char *xml, size_t len, const char *why)
{
    struct wd_s3_list l = {.n_keys = 77, .keys = NULL, .truncated = true, .next_token = NULL};
    struct wd_error err = {0};
    int rc = wd_s3_list_parse(xml, len, &l, &err);
    if (rc != -1)
        fail_msg("accepted: %s", why);
    if (err.cls != WD_ERR_TRANSIENT)
        fail_msg("%s: class %s (%s)", why, wd_error_class_name(err.cls), err.message);
    assert_true(err.message[0] != '\0');
    assert_int_equal(l.n_keys, 77);
    assert_true(l.truncated);
    assert_null(l.keys);
    assert_null(l.next_token);
}

static void test_list_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *xml;
        const char *why;
    } cases[] = {
        {"", "empty body"},
        {"   \n", "only whitespace"},
        {"not xml at all", "plain text"},
        {"{\"__type\":\"x\"}", "JSON"},
        {"<ListBucketResult>", "unclosed root"},
        {"<ListBucketResult><Contents><Key>a</Key></Contents>", "cut short"},
        {"<ListBucketResult><Contents><Key>a</Contents></Key></ListBucketResult>", "crossed tags"},
        {"<ListBucketResult><Contents><Key>a&foo;</Key></Contents></ListBucketResult>", "undefined entity"},
        {"<ListBucketResult><Contents><Key>a&#0;</Key></Contents></ListBucketResult>", "NUL reference"},
        {"<ListBucketResult><Contents><Key>a&#x1;</Key></Contents></ListBucketResult>", "control reference"},
        {"<ListBucketResult><Contents><Key>a&amp</Key></Contents></ListBucketResult>", "unterminated entity"},
        {"<ListBucketResult><Contents><Key>\xff\xfe</Key></Contents></ListBucketResult>", "invalid UTF-8"},
        {"<ListBucketResult><Contents><Key>\xe2\x82</Key></Contents></ListBucketResult>", "cut UTF-8"},
        {"<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>", "two roots"},
        {"<ListBucketResult></ListBucketResult>trailing", "text after the root"},
        {"<?xml version=\"1.0\"?><?xml version=\"1.0\"?><ListBucketResult/>", "two declarations"},
        {"<ListBucketResult><Contents><Key a=\"1\" a=\"2\">k</Key></Contents></ListBucketResult>",
         "dup attr"},
        {"<p:ListBucketResult><p:Contents/></p:ListBucketResult>", "unbound prefix"},
        {"<Error><Code>InternalError</Code><Message>m</Message></Error>", "an Error document"},
        {"<ListAllMyBucketsResult/>", "another document"},
        {"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "Contents without Key"},
        {"<ListBucketResult><Contents><Key>a</Key><Key>b</Key></Contents></ListBucketResult>", "two Keys"},
        {"<ListBucketResult><Contents><Key></Key></Contents></ListBucketResult>", "empty Key"},
        {"<ListBucketResult><Contents><Key>a<b/>c</Key></Contents></ListBucketResult>", "element in Key"},
        {"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>", "IsTruncated maybe"},
        {"<ListBucketResult><IsTruncated/></ListBucketResult>", "IsTruncated empty"},
        {"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
         "truncated without a key or a token"},
        {"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>"
         "</ListBucketResult>",
         "truncated with an empty token"},
        {"<ListBucketResult><IsTruncated>true</IsTruncated><IsTruncated>false</IsTruncated></"
         "ListBucketResult>",
         "IsTruncated twice"},
        {"<ListBucketResult><?pi x?><!-- c --></ListBucketResult", "cut in the end tag"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_list_rejected(cases[i].xml, strlen(cases[i].xml), cases[i].why);

    /* A NUL byte inside the document. */
    static const char with_nul[] =
        "<ListBucketResult><Contents><Key>a\0b</Key></Contents></ListBucketResult>";
    expect_list_rejected(with_nul, sizeof(with_nul) - 1, "NUL byte");
    /* NULL with length 0. */
    expect_list_rejected(NULL, 0, "NULL");
    /* A real page cut at every length short of its end. */
    for (size_t n = 0; n + 1 < sizeof(LIST_COMPLETE) - 1; n += 7)
        expect_list_rejected(LIST_COMPLETE, n, "cut page");
}

/* A page as Ceph RGW 16.2 answers encoding-type=url (captured), with the keys no raw XML can carry. */
static const char LIST_RGW_ENCODED[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><EncodingType>url</EncodingType><Name>bkt1</Name>"
    "<Prefix></Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a%01b</Key><Size>2</Size></Contents>"
    "<Contents><Key>c%0Dd</Key><Size>2</Size></Contents>"
    "<Contents><Key>e%0D%0Af</Key><Size>2</Size></Contents>"
    "<Contents><Key>g%EF%BF%BEh</Key><Size>2</Size></Contents>"
    "<Contents><Key>i%EF%BF%BFj</Key><Size>2</Size></Contents>"
    "<Contents><Key>k%2Bl</Key><Size>2</Size></Contents>"
    "<Contents><Key>m%2520n</Key><Size>2</Size></Contents>"
    "<Contents><Key>q&apos;%22%3C%3E</Key><Size>2</Size></Contents>"
    "<Contents><Key>sl%2Fash</Key><Size>2</Size></Contents>"
    "<Contents><Key>sp%20ace</Key><Size>2</Size></Contents>"
    "<Contents><Key>tilde~_-.!*()</Key><Size>2</Size></Contents>"
    "<Contents><Key>uni%C3%A9%E4%B8%AD</Key><Size>2</Size></Contents>"
    "<Contents><Key>x%1F</Key><Size>2</Size></Contents>"
    "<Contents><Key>z%7F%25</Key><Size>2</Size></Contents>"
    "<KeyCount>14</KeyCount></ListBucketResult>";

static void test_list_url_encoded_rgw(void **state)
{
    (void)state;
    static const char *const want[] = {
        "a\x01"
        "b",
        "c\rd",
        "e\r\nf",
        "g\xef\xbf\xbeh",
        "i\xef\xbf\xbfj",
        "k+l",
        "m%20n",
        "q'\"<>",
        "sl/ash",
        "sp ace",
        "tilde~_-.!*()",
        "uni\xc3\xa9\xe4\xb8\xad",
        "x\x1f",
        "z\x7f%",
    };
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(LIST_RGW_ENCODED, &l, &err), 0);
    assert_int_equal(l.n_keys, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n_keys; i++)
        assert_string_equal(l.keys[i], want[i]);
    assert_false(l.truncated);
    assert_null(l.next_token);
    wd_s3_list_clear(&l);
}

/* AWS encodes a space as "+" (and "+" as "%2B"); EncodingType may come after the keys; hex either case. */
static void test_list_url_encoded_aws(void **state)
{
    (void)state;
    static const char xml[] = "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>a+b%2Bc</Key></Contents>"
                              "<Contents><Key>dead-letter/x%c3%a9%C3%A9</Key></Contents>"
                              "<Contents><Key>+</Key></Contents>"
                              "<EncodingType> url </EncodingType></ListBucketResult>";
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 3);
    assert_string_equal(l.keys[0], "a b+c");
    assert_string_equal(l.keys[1], "dead-letter/x\xc3\xa9\xc3\xa9");
    assert_string_equal(l.keys[2], " ");
    wd_s3_list_clear(&l);
}

/* Without <EncodingType> (s3rver ignores encoding-type=url) keys are taken as they are. */
static void test_list_not_encoded_taken_raw(void **state)
{
    (void)state;
    static const char xml[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>k+l</Key></Contents><Contents><Key>pct%41</Key></Contents>"
                              "<Contents><Key>%</Key></Contents></ListBucketResult>";
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 3);
    assert_string_equal(l.keys[0], "k+l");
    assert_string_equal(l.keys[1], "pct%41");
    assert_string_equal(l.keys[2], "%");
    wd_s3_list_clear(&l);
}

/*
 * RGW writes NextContinuationToken, StartAfter and Prefix raw even with encoding-type=url (captured:
 * "a&#x01;b" and raw U+FFFE), which no XML parser accepts: the page is still read, and the next one starts
 * after its last key, decoded.
 */
static void test_list_rgw_raw_token_tolerated(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "<ListBucketResult><EncodingType>url</EncodingType><Prefix>a&#x01;</Prefix>"
        "<IsTruncated>true</IsTruncated><Contents><Key>a%01b</Key></Contents>"
        "<NextContinuationToken>a&#x01;b</NextContinuationToken><StartAfter>a&#1;</StartAfter>"
        "</ListBucketResult>",
        "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        "<ContinuationToken>a\x01</ContinuationToken><Contents><Key>a%01b</Key></Contents>"
        "<NextContinuationToken>a\x01"
        "b\xef\xbf\xbe&#xFFFF;&#xD800;&#x110000;&#99999999999;</"
        "NextContinuationToken></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct wd_s3_list l = {0};
        struct wd_error err = {0};
        if (parse_str(docs[i], &l, &err) != 0)
            fail_msg("doc %zu refused: %s", i, err.message);
        assert_int_equal(l.n_keys, 1);
        assert_string_equal(l.keys[0], "a\x01"
                                       "b");
        assert_true(l.truncated);
        assert_string_equal(l.next_token, "ka\x01"
                                          "b");
        wd_s3_list_clear(&l);
    }
}

/* A truncated page without keys can only go on with the server's token, which must then be exact. */
static void test_list_truncated_without_keys(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(
        parse_str("<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
                  "<NextContinuationToken>1ueGcx+/=</NextContinuationToken></ListBucketResult>",
                  &l, &err),
        0);
    assert_int_equal(l.n_keys, 0);
    /* Opaque: never URL-decoded ("+" stays), sent back as it came. */
    assert_string_equal(l.next_token, "t1ueGcx+/=");
    wd_s3_list_clear(&l);

    static const char lossy[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                                "<NextContinuationToken>a&#x01;b</NextContinuationToken></ListBucketResult>";
    expect_list_rejected(lossy, strlen(lossy), "truncated, no keys, a token XML cannot carry");
}

/* 1024 bytes is the most S3 allows, however they are encoded. */
static void test_list_url_encoded_length_limit(void **state)
{
    (void)state;
    struct wd_buf key = {0}, b = {0};
    for (int i = 0; i < 1024; i++)
        assert_int_equal(wd_buf_append_str(&key, "%01"), 0);
    char *xml = NULL;
    assert_int_equal(wd_buf_printf(&b,
                                   "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%s</Key>"
                                   "</Contents></ListBucketResult>",
                                   key.data),
                     0);
    xml = wd_buf_steal(&b);
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(strlen(l.keys[0]), 1024);
    for (size_t i = 0; i < 1024; i++)
        assert_int_equal(l.keys[0][i], 1);
    wd_s3_list_clear(&l);
    free(xml);

    /* One more byte, however short its text. */
    assert_int_equal(
        wd_buf_printf(&b,
                      "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%sx</Key>"
                      "</Contents></ListBucketResult>",
                      key.data),
        0);
    expect_list_rejected(b.data, b.len, "1025 decoded bytes");
    wd_buf_reset(&b);
    /* The same 3072 characters sent unencoded are far too long a key. */
    assert_int_equal(wd_buf_printf(&b,
                                   "<ListBucketResult><Contents><Key>%s</Key></Contents></ListBucketResult>",
                                   key.data),
                     0);
    expect_list_rejected(b.data, b.len, "3072 bytes unencoded");
    wd_buf_free(&b);
    wd_buf_free(&key);
}

/* What no S3 could have listed: refused whole, never a wrong key (later requests would overtake it). */
static void test_list_url_encoded_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *key; /* the Key's text in an encoded page */
        const char *why;
    } cases[] = {
        {"a%", "'%' at the end"},
        {"a%4", "'%' with one digit"},
        {"a%G1", "'%' with a non-hex digit"},
        {"a%%41", "'%%'"},
        {"a%00b", "NUL byte"},
        {"%FF", "invalid UTF-8"},
        {"%C0%AF", "overlong UTF-8"},
        {"%ED%A0%80", "surrogate"},
        {"%F4%90%80%80", "past U+10FFFF"},
        {"%E2%82", "cut UTF-8"},
        {"a&#x1;b", "an unencoded control character"},
        {"a\x01"
         "b",
         "a raw control character"},
        {"a\xef\xbf\xbe", "a raw U+FFFE"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wd_buf b = {0};
        assert_int_equal(wd_buf_printf(&b,
                                       "<ListBucketResult><EncodingType>url</EncodingType><Contents>"
                                       "<Key>ok</Key></Contents><Contents><Key>%s</Key></Contents>"
                                       "</ListBucketResult>",
                                       cases[i].key),
                         0);
        expect_list_rejected(b.data, b.len, cases[i].why);
        wd_buf_free(&b);
    }
    static const char *const docs[] = {
        "<ListBucketResult><EncodingType>base64</EncodingType></ListBucketResult>",
        "<ListBucketResult><EncodingType>url</EncodingType><EncodingType>url</EncodingType></"
        "ListBucketResult>",
        "<ListBucketResult><EncodingType></EncodingType></ListBucketResult>",
        /* Not encoded: the raw control character cannot be the key as stored. */
        "<ListBucketResult><Contents><Key>a&#x1F;</Key></Contents></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        expect_list_rejected(docs[i], strlen(docs[i]), docs[i]);
}

/* Character references in CDATA sections and comments are text: nothing is replaced there. */
static void test_list_sanitizer_leaves_literal_text(void **state)
{
    (void)state;
    static const char xml[] = "<ListBucketResult><!-- &#x1; --><?pi &#x2;?><Contents>"
                              "<Key><![CDATA[a&#x1;b]]></Key></Contents><Prefix>&#x3;</Prefix>"
                              "</ListBucketResult>";
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str(xml, &l, &err), 0);
    assert_int_equal(l.n_keys, 1);
    assert_string_equal(l.keys[0], "a&#x1;b");
    wd_s3_list_clear(&l);
}

/* RGW names the raw key in some errors (<Key>a&#x01;b</Key>): the Code must still be read. */
static void test_error_parse_rgw_raw_key(void **state)
{
    (void)state;
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
                              "<Message></Message><Key>a&#x01;b\xef\xbf\xbf</Key><BucketName>b</BucketName>"
                              "</Error>";
    char code[64], message[64];
    assert_int_equal(wd_s3_error_parse(doc, strlen(doc), code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(message, "");
}

static void test_list_syntax_error_names_position(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    assert_int_equal(parse_str("<ListBucketResult>\n<Contents>\n<Key>a</Kex>", &l, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_non_null(strstr(err.message, "ListObjectsV2"));
    assert_non_null(strstr(err.message, "line 3"));
}

/* The classic entity-expansion bomb: must be refused at the DOCTYPE, quickly and without the memory. */
static const char BILLION_LAUGHS[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
    "]>\n"
    "<ListBucketResult><Contents><Key>&lol9;</Key></Contents></ListBucketResult>\n";

static void test_list_doctype_refused(void **state)
{
    (void)state;
    static const char *const docs[] = {
        BILLION_LAUGHS,
        /* External entity (XXE): must never be read. */
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<ListBucketResult><Contents><Key>&xxe;</Key></Contents></ListBucketResult>",
        /* External DTD. */
        "<!DOCTYPE ListBucketResult SYSTEM \"http://example.invalid/evil.dtd\"><ListBucketResult/>",
        /* Parameter entities. */
        "<!DOCTYPE r [<!ENTITY % p \"<!ENTITY e 'x'>\"> %p;]><ListBucketResult/>",
        /* Even a harmless DOCTYPE: S3 never sends one. */
        "<!DOCTYPE ListBucketResult><ListBucketResult/>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct wd_s3_list l = {0};
        struct wd_error err = {0};
        assert_int_equal(parse_str(docs[i], &l, &err), -1);
        assert_int_equal(err.cls, WD_ERR_TRANSIENT);
        assert_non_null(strstr(err.message, "DOCTYPE"));
        assert_null(l.keys);
    }
    char code[64] = "untouched", message[64] = "untouched";
    assert_int_equal(wd_s3_error_parse(BILLION_LAUGHS, strlen(BILLION_LAUGHS), code, sizeof(code), message,
                                       sizeof(message)),
                     -1);
    assert_string_equal(code, "untouched");
    static const char err_bomb[] =
        "<!DOCTYPE Error [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>"
        "<Error><Code>&b;</Code></Error>";
    assert_int_equal(
        wd_s3_error_parse(err_bomb, strlen(err_bomb), code, sizeof(code), message, sizeof(message)), -1);
}

static void test_list_clear_accepts_empty(void **state)
{
    (void)state;
    struct wd_s3_list l = {0};
    wd_s3_list_clear(&l);
    wd_s3_list_clear(&l);
    wd_s3_list_clear(NULL);
}

static void test_error_parse(void **state)
{
    (void)state;
    char code[64], message[512];
    assert_int_equal(
        wd_s3_error_parse(ERROR_DOC, strlen(ERROR_DOC), code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(message, "The request signature we calculated does not match the signature you "
                                 "provided. Check your key and signing method.");

    /* Namespaced, entities, whitespace before the declaration, fields in either order. */
    static const char ns[] =
        "\n\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<Error xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Message>a &lt; b</Message>"
        "<Code>SlowDown</Code></Error>";
    assert_int_equal(wd_s3_error_parse(ns, strlen(ns), code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "SlowDown");
    assert_string_equal(message, "a < b");

    /* Either may be missing. */
    static const char bare[] = "<Error><RequestId>x</RequestId></Error>";
    assert_int_equal(wd_s3_error_parse(bare, strlen(bare), code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "");
    assert_string_equal(message, "");

    /* NULL buffers are allowed. */
    assert_int_equal(wd_s3_error_parse(ERROR_DOC, strlen(ERROR_DOC), NULL, 0, NULL, 0), 0);
}

static void test_error_parse_truncates_on_character_boundary(void **state)
{
    (void)state;
    /* "ab" then a 3-byte euro sign: a 4-byte buffer holds "ab" and must not hold half the euro sign. */
    static const char doc[] = "<Error><Code>NoSuchKey</Code><Message>ab&#x20AC;cd</Message></Error>";
    char code[4], message[4];
    assert_int_equal(wd_s3_error_parse(doc, strlen(doc), code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "NoS");
    assert_string_equal(message, "ab");
    char message6[6];
    assert_int_equal(wd_s3_error_parse(doc, strlen(doc), code, sizeof(code), message6, sizeof(message6)), 0);
    assert_string_equal(message6, "ab\xe2\x82\xac");
}

static void test_error_parse_rejects(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "",
        "Service Unavailable",
        "<html><body>502 Bad Gateway</body></html>",
        LIST_COMPLETE,
        "<Error><Code>InternalError</Code>",
        "<Error><Code>a<b/></Code></Error>",
        "<CopyObjectResult><ETag>x</ETag></CopyObjectResult>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char code[64] = "untouched", message[64] = "untouched";
        assert_int_equal(
            wd_s3_error_parse(docs[i], strlen(docs[i]), code, sizeof(code), message, sizeof(message)), -1);
        assert_string_equal(code, "untouched");
        assert_string_equal(message, "untouched");
    }
    assert_int_equal(wd_s3_error_parse(NULL, 0, NULL, 0, NULL, 0), -1);
}

/* An oversized Message is cut, not refused: an <Error> is still an error. */
static void test_error_parse_huge_message(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "<Error><Code>InternalError</Code><Message>"), 0);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(wd_buf_append_char(&b, 'm'), 0);
    assert_int_equal(wd_buf_append_str(&b, "</Message></Error>"), 0);
    char code[64], message[100];
    assert_int_equal(wd_s3_error_parse(b.data, b.len, code, sizeof(code), message, sizeof(message)), 0);
    assert_string_equal(code, "InternalError");
    assert_int_equal(strlen(message), sizeof(message) - 1);
    wd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_complete),
        cmocka_unit_test(test_list_storage_class),
        cmocka_unit_test(test_list_truncated),
        cmocka_unit_test(test_list_empty),
        cmocka_unit_test(test_list_token_without_truncation_is_dropped),
        cmocka_unit_test(test_list_entities_and_utf8),
        cmocka_unit_test(test_list_namespaces),
        cmocka_unit_test(test_list_key_length_limit),
        cmocka_unit_test(test_list_many_keys),
        cmocka_unit_test(test_list_malformed),
        cmocka_unit_test(test_list_url_encoded_rgw),
        cmocka_unit_test(test_list_url_encoded_aws),
        cmocka_unit_test(test_list_not_encoded_taken_raw),
        cmocka_unit_test(test_list_rgw_raw_token_tolerated),
        cmocka_unit_test(test_list_truncated_without_keys),
        cmocka_unit_test(test_list_url_encoded_length_limit),
        cmocka_unit_test(test_list_url_encoded_rejects),
        cmocka_unit_test(test_list_sanitizer_leaves_literal_text),
        cmocka_unit_test(test_list_syntax_error_names_position),
        cmocka_unit_test(test_list_doctype_refused),
        cmocka_unit_test(test_list_clear_accepts_empty),
        cmocka_unit_test(test_error_parse),
        cmocka_unit_test(test_error_parse_truncates_on_character_boundary),
        cmocka_unit_test(test_error_parse_rejects),
        cmocka_unit_test(test_error_parse_huge_message),
        cmocka_unit_test(test_error_parse_rgw_raw_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
