package sluice;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * Starts a MiniDFSCluster on 127.0.0.1 for Sluice's HDFS tests.
 *
 * <p>Usage: {@code MiniHDFS <namenode-port> <datanodes> <base-dir> [block-size]}
 * (port 0 picks a free one; the base dir is wiped). Prints
 * {@code READY port=<p> datanodes=<n> millis=<startup>} when the cluster is
 * up, then reads commands from stdin, answering each with one line
 * starting {@code OK} or {@code ERR}:
 *
 * <ul>
 *   <li>{@code restart-datanode I} stops datanode I and starts it again on
 *       the same ports, waiting until the namenode sees it;
 *   <li>{@code stop-datanode I} stops datanode I (indexes shift down);
 *   <li>{@code start-datanode} adds a datanode;
 *   <li>{@code ping} answers OK;
 *   <li>{@code stop} (or end of input) shuts the cluster down and exits.
 * </ul>
 */
public final class MiniHDFS {
  private MiniHDFS() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 3 || args.length > 4) {
      System.err.println("usage: MiniHDFS <namenode-port> <datanodes> <base-dir> [block-size]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    int datanodes = Integer.parseInt(args[1]);
    File base = new File(args[2]);
    // Small blocks by default so tests cross block boundaries cheaply.
    long blockSize = args.length > 3 ? Long.parseLong(args[3]) : 4L << 20;
    long start = System.nanoTime();

    Configuration conf = new HdfsConfiguration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.getAbsolutePath());
    conf.setBoolean("dfs.permissions.enabled", false);
    conf.setLong("dfs.blocksize", blockSize);
    conf.setInt("dfs.replication", Math.min(datanodes, 3));
    conf.setLong("dfs.namenode.fs-limits.min-block-size", 1L << 16);
    // Let a client replace a datanode that failed in its write pipeline
    // only when one is available (small clusters have none to spare).
    conf.set("dfs.client.block.write.replace-datanode-on-failure.policy", "NEVER");
    conf.set("dfs.namenode.rpc-address", "127.0.0.1:" + port);
    conf.set("dfs.datanode.hostname", "127.0.0.1");

    MiniDFSCluster cluster =
        new MiniDFSCluster.Builder(conf)
            .nameNodePort(port)
            .numDataNodes(datanodes)
            .format(true)
            .build();
    cluster.waitActive();
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown));
    long millis = (System.nanoTime() - start) / 1_000_000;
    System.out.println(
        "READY port=" + cluster.getNameNodePort() + " datanodes=" + datanodes + " millis=" + millis);
    System.out.flush();

    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.trim().split("\\s+");
      try {
        switch (f[0]) {
          case "":
            continue;
          case "ping":
            System.out.println("OK ping");
            break;
          case "restart-datanode":
            if (!cluster.restartDataNode(Integer.parseInt(f[1]), true)) {
              throw new IllegalStateException("restartDataNode returned false");
            }
            cluster.waitActive();
            System.out.println("OK restart-datanode " + f[1]);
            break;
          case "stop-datanode":
            if (cluster.stopDataNode(Integer.parseInt(f[1])) == null) {
              throw new IllegalStateException("no datanode " + f[1]);
            }
            System.out.println("OK stop-datanode " + f[1]);
            break;
          case "start-datanode":
            cluster.startDataNodes(conf, 1, true, null, null);
            cluster.waitActive();
            System.out.println("OK start-datanode");
            break;
          case "stop":
            System.out.println("OK stop");
            System.out.flush();
            cluster.shutdown();
            System.exit(0);
            break;
          default:
            System.out.println("ERR unknown command " + f[0]);
        }
      } catch (Exception e) {
        System.out.println("ERR " + f[0] + ": " + e);
      }
      System.out.flush();
    }
    cluster.shutdown();
    System.exit(0);
  }
}
