package dev.batchinference.transforms.model;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.sameInstance;
import static org.junit.Assert.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link SharedResources}, the per-JVM reference-counted cache. */
@RunWith(JUnit4.class)
public class SharedResourcesTest {

  /** A resource that knows whether it was closed. */
  private static final class Resource implements AutoCloseable {
    final AtomicInteger closes = new AtomicInteger();

    @Override
    public void close() {
      closes.incrementAndGet();
    }
  }

  private static String freshKey() {
    return "test:" + UUID.randomUUID();
  }

  @Test
  public void twoAcquiresLoadOnceAndTheLastCloseCloses() throws Exception {
    String key = freshKey();
    AtomicInteger loads = new AtomicInteger();
    SharedResources.Loader<Resource> loader =
        () -> {
          loads.incrementAndGet();
          return new Resource();
        };
    SharedResources.Lease<Resource> first = SharedResources.acquire(key, loader);
    SharedResources.Lease<Resource> second = SharedResources.acquire(key, loader);
    assertThat("loads", loads.get(), equalTo(1));
    assertThat("loadCount", SharedResources.loadCount(key), equalTo(1));
    assertThat("references", SharedResources.references(key), equalTo(2));
    assertThat("both leases share one resource", second.get(), sameInstance(first.get()));
    Resource resource = first.get();

    first.close();
    first.close();
    assertThat("closing a lease twice releases once", SharedResources.references(key), equalTo(1));
    assertThat("still open while a lease is", resource.closes.get(), equalTo(0));
    IllegalStateException e = assertThrows(IllegalStateException.class, first::get);
    assertThat(e.getMessage(), containsString("lease on " + key + " is closed"));

    second.close();
    assertThat("closed by the last lease", resource.closes.get(), equalTo(1));
    assertThat("references", SharedResources.references(key), equalTo(0));

    try (SharedResources.Lease<Resource> again = SharedResources.acquire(key, loader)) {
      assertThat("a new lease after the last close loads again", again.get(), is(not(resource)));
      assertThat("loadCount", SharedResources.loadCount(key), equalTo(2));
    }
  }

  @Test
  public void aHoldKeepsWhatItsLastLeaseReleasedUntilTheHoldEnds() throws Exception {
    String checked = freshKey();
    String expected = checked + "|sha";
    AtomicInteger loads = new AtomicInteger();
    SharedResources.Loader<Resource> loader =
        () -> {
          loads.incrementAndGet();
          return new Resource();
        };
    Resource resource;
    try (SharedResources.Hold hold = SharedResources.hold()) {
      try (SharedResources.Lease<Resource> check = SharedResources.acquire(checked, loader)) {
        resource = check.get();
      }
      assertThat("kept open by the hold", resource.closes.get(), equalTo(0));
      // The check learnt what the workers' key adds (a hash): the kept resource is theirs.
      SharedResources.rekey(checked, expected);
      try (SharedResources.Lease<Resource> worker = SharedResources.acquire(expected, loader)) {
        assertThat("the worker gets the checked resource", worker.get(), sameInstance(resource));
      }
      assertThat("loads", loads.get(), equalTo(1));
      assertThat("kept after the worker's release too", resource.closes.get(), equalTo(0));
    }
    assertThat("closed when the hold ends", resource.closes.get(), equalTo(1));
    try (SharedResources.Lease<Resource> after = SharedResources.acquire(expected, loader)) {
      assertThat("loads again after the hold", loads.get(), equalTo(2));
    }
  }

  @Test
  public void aLeasedResourceOutlivesTheHoldAndIsNotRekeyed() throws Exception {
    String key = freshKey();
    SharedResources.Lease<Resource> lease;
    try (SharedResources.Hold hold = SharedResources.hold()) {
      lease = SharedResources.acquire(key, Resource::new);
      SharedResources.rekey(key, key + "|other");
      assertThat("a leased resource keeps its key", SharedResources.references(key), equalTo(1));
    }
    Resource resource = lease.get();
    assertThat("open while leased", resource.closes.get(), equalTo(0));
    lease.close();
    assertThat("closed by its last lease", resource.closes.get(), equalTo(1));
  }

  private static <T> org.hamcrest.Matcher<T> not(T value) {
    return org.hamcrest.Matchers.not(sameInstance(value));
  }

  @Test
  public void aFailedLoadCachesNothing() throws Exception {
    String key = freshKey();
    Exception e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                SharedResources.acquire(
                    key,
                    () -> {
                      throw new IllegalArgumentException("cannot open");
                    }));
    assertThat(e.getMessage(), equalTo("cannot open"));
    assertThat("loadCount", SharedResources.loadCount(key), equalTo(0));
    assertThat("references", SharedResources.references(key), equalTo(0));
    try (SharedResources.Lease<Resource> lease = SharedResources.acquire(key, Resource::new)) {
      assertThat("the next acquire loads", SharedResources.loadCount(key), equalTo(1));
    }
  }

  @Test
  public void concurrentFirstAcquiresLoadOnce() throws Exception {
    String key = freshKey();
    AtomicInteger loads = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Callable<SharedResources.Lease<Resource>>> tasks = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        tasks.add(
            () ->
                SharedResources.acquire(
                    key,
                    () -> {
                      loads.incrementAndGet();
                      Thread.sleep(50);
                      return new Resource();
                    }));
      }
      List<SharedResources.Lease<Resource>> leases = new ArrayList<>();
      for (Future<SharedResources.Lease<Resource>> f : pool.invokeAll(tasks)) {
        leases.add(f.get());
      }
      assertThat("loads", loads.get(), equalTo(1));
      assertThat("references", SharedResources.references(key), equalTo(8));
      Resource resource = leases.get(0).get();
      leases.forEach(SharedResources.Lease::close);
      assertThat("closed once", resource.closes.get(), equalTo(1));
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  public void keysAreIndependent() throws Exception {
    try (SharedResources.Lease<Resource> a = SharedResources.acquire(freshKey(), Resource::new);
        SharedResources.Lease<Resource> b = SharedResources.acquire(freshKey(), Resource::new)) {
      assertThat(a.get(), not(b.get()));
    }
  }
}
