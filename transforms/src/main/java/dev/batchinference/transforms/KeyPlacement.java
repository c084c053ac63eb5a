package dev.batchinference.transforms;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

/**
 * Where a runner's shuffle sends a key: which of its {@code workers} parallel instances of the next
 * step receives the records of an {@code Integer} key (encoded with {@code VarIntCoder}, as {@link
 * RunInference} keys its batches). A runner that hashes keys onto a fixed set of workers, as Flink
 * does, gives an exact answer, and {@link RunInference} then picks key values that fall on every
 * worker equally, instead of hoping that hashing a few keys spreads them. Runners that move keys
 * between workers as they go (Dataflow, the DirectRunner) have no placement. Serializable, as the
 * transforms that hold it are.
 */
@FunctionalInterface
public interface KeyPlacement extends java.io.Serializable {

  /** The worker, from 0 to {@code workers - 1}, that receives the records of {@code key}. */
  int workerOf(int key, int workers);

  /**
   * Chooses {@code slots} distinct key values, slot {@code s} on worker {@code s % workers}: the
   * smallest non-negative integers that land there. So every run of {@code workers} consecutive
   * slots covers every worker once, and each worker gets the same number of keys (±1).
   */
  static int[] choose(KeyPlacement placement, int slots, int workers) {
    checkArgument(slots > 0 && workers > 0, "slots and workers must be > 0");
    int[] keys = new int[slots];
    int[] next = new int[workers]; // per worker, the next candidate key to try
    java.util.BitSet used = new java.util.BitSet();
    for (int slot = 0; slot < slots; slot++) {
      int worker = slot % workers;
      int key = next[worker];
      // Each worker receives about 1 in `workers` keys, so the search is short.
      while (used.get(key) || placement.workerOf(key, workers) != worker) {
        key++;
        checkArgument(key < 1_000_000 + slots * workers * 64, "no key lands on worker %s", worker);
      }
      used.set(key);
      keys[slot] = key;
      next[worker] = key + 1;
    }
    return keys;
  }
}
