package dev.batchinference.transforms.testing;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Test fixture for the fortune-cookie text collections shipped by the Debian {@code fortunes}
 * packages: one file per category, entries separated by lines holding only {@code %}.
 */
public final class Fortunes {

  /**
   * Directory holding the category files; the {@code fortunes.dir} system property overrides the
   * default {@code /usr/share/games/fortunes}.
   */
  public static final Path DIR =
      Path.of(System.getProperty("fortunes.dir", "/usr/share/games/fortunes"));

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private Fortunes() {}

  /**
   * One fortune.
   *
   * @param category name of the category file it comes from
   * @param index 0-based position among the non-empty entries of that file
   * @param text the entry, trimmed, lines separated by {@code \n}
   */
  public record Fortune(String category, int index, String text) {

    /** Returns the record id used in written files: {@code <category>-<index>}. */
    public String id() {
      return category + "-" + index;
    }
  }

  /**
   * Loads fortunes from every category file in {@link #DIR}: the regular files whose name has no
   * extension (so not {@code *.dat} or {@code *.u8}; subdirectories such as {@code off} are
   * skipped), in name order. Bytes that are not valid UTF-8 are replaced with U+FFFD.
   *
   * @param maxPerCategory maximum number of fortunes to take from each category (the first ones)
   * @return the fortunes, grouped by category in name order, then in file order
   */
  public static List<Fortune> load(int maxPerCategory) {
    if (maxPerCategory < 0) {
      throw new IllegalArgumentException("maxPerCategory must be >= 0: " + maxPerCategory);
    }
    List<Path> files;
    try (Stream<Path> listing = Files.list(DIR)) {
      files =
          listing
              .filter(Files::isRegularFile)
              .filter(f -> f.getFileName().toString().indexOf('.') < 0)
              .sorted()
              .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + DIR, e);
    }
    List<Fortune> fortunes = new ArrayList<>();
    for (Path file : files) {
      String category = file.getFileName().toString();
      int index = 0;
      for (String entry : entries(read(file))) {
        if (index >= maxPerCategory) {
          break;
        }
        fortunes.add(new Fortune(category, index++, entry));
      }
    }
    return fortunes;
  }

  /**
   * Writes one JSON object per line: {@code
   * {"id":"<category>-<index>","category":"<category>","text":"..."}}.
   *
   * @param file file to write; parent directories are created
   * @param fortunes fortunes to write, in order
   */
  public static void writeJsonLines(Path file, List<Fortune> fortunes) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
        for (Fortune fortune : fortunes) {
          try (JsonGenerator json = MAPPER.getFactory().createGenerator(out)) {
            json.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
            json.writeStartObject();
            json.writeStringField("id", fortune.id());
            json.writeStringField("category", fortune.category());
            json.writeStringField("text", fortune.text());
            json.writeEndObject();
          }
          out.write('\n');
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  private static String read(Path file) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE)
          .decode(ByteBuffer.wrap(Files.readAllBytes(file)))
          .toString();
    } catch (CharacterCodingException e) {
      throw new IllegalStateException("decoder set to REPLACE cannot fail", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static List<String> entries(String content) {
    List<String> entries = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : content.split("\r?\n", -1)) {
      if (line.equals("%")) {
        addEntry(entries, current);
      } else {
        current.append(line).append('\n');
      }
    }
    addEntry(entries, current);
    return entries;
  }

  private static void addEntry(List<String> entries, StringBuilder current) {
    String text = current.toString().strip();
    current.setLength(0);
    if (!text.isEmpty()) {
      entries.add(text);
    }
  }
}
