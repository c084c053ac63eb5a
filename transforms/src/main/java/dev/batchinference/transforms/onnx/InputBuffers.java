package dev.batchinference.transforms.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;

/**
 * Direct input buffers of each thread, by input name, reused from batch to batch: ONNX Runtime
 * reads a direct buffer in place, so a batch costs one copy from the examples and no allocation
 * once the buffers have grown to the largest batch.
 *
 * <p>One instance serves every thread of a loaded model; each thread gets its own buffers, so that
 * threads that run the shared session at the same time never write into each other's input.
 */
final class InputBuffers {

  private static final byte[] ZEROS = new byte[1 << 16];

  private final ThreadLocal<Map<String, ByteBuffer>> buffers =
      ThreadLocal.withInitial(HashMap::new);

  /**
   * This thread's buffer for {@code input}, {@code bytes} long (limit and capacity), in native byte
   * order, grown when too small; zeroed when {@code zeroed} (the padding must read as zeros, and a
   * reused buffer holds the last batch). A newly allocated buffer is zeros already.
   */
  ByteBuffer get(String input, int bytes, boolean zeroed) {
    Map<String, ByteBuffer> mine = buffers.get();
    ByteBuffer buffer = mine.get(input);
    if (buffer == null || buffer.capacity() < bytes) {
      int capacity =
          Math.max(
              bytes, buffer == null ? 0 : Math.min(Integer.MAX_VALUE / 2, buffer.capacity()) * 2);
      buffer = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
      mine.put(input, buffer);
    } else if (zeroed) {
      buffer.clear();
      for (int at = 0; at < bytes; at += ZEROS.length) {
        buffer.put(ZEROS, 0, Math.min(ZEROS.length, bytes - at));
      }
    }
    ByteBuffer slice = buffer.duplicate().order(ByteOrder.nativeOrder());
    slice.clear().limit(bytes);
    return slice.slice().order(ByteOrder.nativeOrder());
  }
}
