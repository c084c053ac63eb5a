package dev.batchinference.transforms;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names the worker thread that runs a step, so that a run can say how its work was spread: the JVM
 * (host and process id) and, on Flink, the subtask (Flink names a task's thread after its operator,
 * ending with {@code (index/parallelism)}); on other runners the thread's name and id.
 */
public final class Worker {

  /** Flink's task thread names end with {@code (3/4)} or {@code (3/4)#0} (the attempt). */
  private static final Pattern FLINK_SUBTASK = Pattern.compile("\\((\\d+)/(\\d+)\\)(#\\d+)?$");

  private static final String JVM = host() + ":" + ProcessHandle.current().pid();

  private Worker() {}

  /** The worker the current thread is. */
  public static String current() {
    Thread thread = Thread.currentThread();
    return of(JVM, thread.getName(), thread.getId());
  }

  static String of(String jvm, String threadName, long threadId) {
    Matcher subtask = FLINK_SUBTASK.matcher(threadName);
    if (subtask.find()) {
      return jvm + " subtask " + subtask.group(1) + "/" + subtask.group(2);
    }
    return jvm + " thread " + threadName + "#" + threadId;
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }
}
