package dev.batchinference.transforms.testing;

import java.util.stream.Collectors;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.hamcrest.Description;
import org.hamcrest.Matcher;
import org.hamcrest.TypeSafeDiagnosingMatcher;
import org.joda.time.Duration;

/**
 * Hamcrest matchers of a transform's {@link DisplayData}, named as Beam's own {@code
 * DisplayDataMatchers}: that class ships only in Beam's test jar, which this build does not
 * resolve. An item matches by key and value, whatever the namespace of the component (handler,
 * nested transform) that added it.
 */
public final class DisplayItems {

  private DisplayItems() {}

  /** An item with this key, whatever its value. */
  public static Matcher<DisplayData> hasDisplayItem(String key) {
    return item(key, null, "an item " + key);
  }

  public static Matcher<DisplayData> hasDisplayItem(String key, String value) {
    return item(key, value, "an item " + key + " = \"" + value + "\"");
  }

  /** An integer item (Beam keeps ints and longs as longs). */
  public static Matcher<DisplayData> hasDisplayItem(String key, long value) {
    return item(key, value, "an item " + key + " = " + value);
  }

  /** A class item; its value is the class name. */
  public static Matcher<DisplayData> hasDisplayItem(String key, Class<?> value) {
    return item(key, value.getName(), "an item " + key + " = class " + value.getName());
  }

  /** A duration item; its value is in milliseconds. */
  public static Matcher<DisplayData> hasDisplayItem(String key, Duration value) {
    return item(key, value.getMillis(), "an item " + key + " = " + value);
  }

  private static Matcher<DisplayData> item(String key, Object value, String what) {
    return new TypeSafeDiagnosingMatcher<DisplayData>() {
      @Override
      protected boolean matchesSafely(DisplayData data, Description mismatch) {
        for (DisplayData.Item item : data.items()) {
          if (key.equals(item.getKey()) && (value == null || sameValue(value, item.getValue()))) {
            return true;
          }
        }
        mismatch
            .appendText("the items were ")
            .appendText(
                data.items().stream()
                    .map(i -> i.getKey() + " = " + i.getValue())
                    .sorted()
                    .collect(Collectors.joining(", ", "{", "}")));
        return false;
      }

      @Override
      public void describeTo(Description description) {
        description.appendText("display data with ").appendText(what);
      }
    };
  }

  private static boolean sameValue(Object expected, Object actual) {
    if (expected instanceof Long && actual instanceof Number) {
      return (Long) expected == ((Number) actual).longValue();
    }
    return expected.equals(actual);
  }
}
