package dev.batchinference.transforms.model;

import java.io.Serializable;
import java.util.Objects;
import org.checkerframework.checker.nullness.qual.Nullable;

/** Which model made a prediction: its name and the SHA-256 of its bytes. */
public final class ModelIdentity implements Serializable {

  private final String name;
  private final String sha256;

  private ModelIdentity(String name, String sha256) {
    this.name = Objects.requireNonNull(name);
    this.sha256 = Objects.requireNonNull(sha256);
  }

  public static ModelIdentity of(String name, String sha256) {
    return new ModelIdentity(name, sha256);
  }

  public String name() {
    return name;
  }

  /** Lower-case hex SHA-256 of the model file. */
  public String sha256() {
    return sha256;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof ModelIdentity
        && name.equals(((ModelIdentity) o).name)
        && sha256.equals(((ModelIdentity) o).sha256);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, sha256);
  }

  @Override
  public String toString() {
    return name + "@sha256:" + sha256.substring(0, Math.min(12, sha256.length()));
  }
}
