package dev.batchinference.transforms.onnx;

import dev.batchinference.transforms.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A small reader of the ONNX protobuf messages this project needs, straight from the protobuf wire
 * format (ONNX's own classes are not on the classpath): the kinds of a model's graph inputs (which
 * ONNX Runtime's Java API cannot describe for optional inputs), and {@code TensorProto} files, the
 * {@code .pb} inputs and expected outputs of ONNX's node tests.
 *
 * <p>Field numbers are those of {@code onnx.proto} (ONNX 1.12): {@code ModelProto.graph} 7, {@code
 * GraphProto.initializer} 5 and {@code input} 11, {@code ValueInfoProto.name} 1 and {@code type} 2,
 * {@code TypeProto} tensor 1, sequence 4, map 5, sparse tensor 8, optional 9; {@code TensorProto}
 * dims 1, data_type 2, float_data 4, int32_data 5, string_data 6, int64_data 7, name 8, raw_data 9,
 * double_data 10, uint64_data 11, external_data 13.
 */
public final class OnnxProtos {

  private OnnxProtos() {}

  /**
   * The graph inputs of a model (without those an initializer feeds), each with its kind: {@code
   * tensor}, {@code sequence}, {@code map}, {@code optional}, {@code sparse tensor}, or {@code
   * unknown}.
   */
  public static Map<String, String> inputKinds(byte[] model) {
    return valueKinds(model, 11);
  }

  /** The graph outputs of a model, each with its kind (as {@link #inputKinds}). */
  public static Map<String, String> outputKinds(byte[] model) {
    return valueKinds(model, 12);
  }

  /** The inputs (graph field 11) or outputs (12) of a model, by name, with their kinds. */
  private static Map<String, String> valueKinds(byte[] model, int graphField) {
    byte[] graph = null;
    Reader m = new Reader(ByteBuffer.wrap(model));
    while (m.hasMore()) {
      int tag = m.tag();
      if (tag >>> 3 == 7 && (tag & 7) == 2) {
        graph = m.bytes();
      } else {
        m.skip(tag);
      }
    }
    Map<String, String> kinds = new LinkedHashMap<>();
    if (graph == null) {
      return kinds;
    }
    Set<String> initialized = new HashSet<>();
    List<byte[]> inputs = new ArrayList<>();
    Reader g = new Reader(ByteBuffer.wrap(graph));
    while (g.hasMore()) {
      int tag = g.tag();
      if (tag >>> 3 == graphField && (tag & 7) == 2) {
        inputs.add(g.bytes());
      } else if (tag >>> 3 == 5 && (tag & 7) == 2) {
        initialized.add(tensorName(g.bytes()));
      } else {
        g.skip(tag);
      }
    }
    for (byte[] input : inputs) {
      String name = "";
      String kind = "unknown";
      Reader v = new Reader(ByteBuffer.wrap(input));
      while (v.hasMore()) {
        int tag = v.tag();
        if (tag >>> 3 == 1 && (tag & 7) == 2) {
          name = new String(v.bytes(), StandardCharsets.UTF_8);
        } else if (tag >>> 3 == 2 && (tag & 7) == 2) {
          kind = typeKind(v.bytes());
        } else {
          v.skip(tag);
        }
      }
      if (!initialized.contains(name)) {
        kinds.put(name, kind);
      }
    }
    return kinds;
  }

  private static String typeKind(byte[] type) {
    Reader t = new Reader(ByteBuffer.wrap(type));
    while (t.hasMore()) {
      int tag = t.tag();
      switch (tag >>> 3) {
        case 1:
          return "tensor";
        case 4:
          return "sequence";
        case 5:
          return "map";
        case 8:
          return "sparse tensor";
        case 9:
          return "optional";
        default:
          t.skip(tag);
      }
    }
    return "unknown";
  }

  private static String tensorName(byte[] tensor) {
    Reader r = new Reader(ByteBuffer.wrap(tensor));
    while (r.hasMore()) {
      int tag = r.tag();
      if (tag >>> 3 == 8 && (tag & 7) == 2) {
        return new String(r.bytes(), StandardCharsets.UTF_8);
      }
      r.skip(tag);
    }
    return "";
  }

  /** A {@code TensorProto}'s name, element type and values; types from ONNX's data_type numbers. */
  public static final class TensorProto {
    private final String name;
    private final int dataType;
    private final Tensor tensor;

    private TensorProto(String name, int dataType, Tensor tensor) {
      this.name = name;
      this.dataType = dataType;
      this.tensor = tensor;
    }

    public String name() {
      return name;
    }

    /** ONNX's {@code TensorProto.DataType} number (1 float, 7 int64, 16 bfloat16, ...). */
    public int dataType() {
      return dataType;
    }

    /** The values, with the whole shape; null when the element type has no {@link Tensor.DType}. */
    public Tensor tensor() {
      return tensor;
    }
  }

  /** ONNX's data_type numbers of the element types a {@link Tensor} holds; null for others. */
  public static Tensor.DType dtype(int dataType) {
    switch (dataType) {
      case 1:
        return Tensor.DType.FLOAT;
      case 2:
        return Tensor.DType.UINT8;
      case 3:
        return Tensor.DType.INT8;
      case 5:
        return Tensor.DType.INT16;
      case 6:
        return Tensor.DType.INT32;
      case 7:
        return Tensor.DType.INT64;
      case 8:
        return Tensor.DType.STRING;
      case 9:
        return Tensor.DType.BOOL;
      case 10:
        return Tensor.DType.FLOAT16;
      case 11:
        return Tensor.DType.DOUBLE;
      case 16:
        return Tensor.DType.BFLOAT16;
      default:
        return null;
    }
  }

  /** Reads a serialized {@code TensorProto} (a node test's {@code input_0.pb}, say). */
  public static TensorProto readTensor(byte[] proto) {
    String name = "";
    int dataType = 0;
    List<Long> dims = new ArrayList<>();
    List<Float> floats = new ArrayList<>();
    List<Long> ints = new ArrayList<>(); // int32_data, int64_data and uint64_data
    List<Double> doubles = new ArrayList<>();
    List<String> strings = new ArrayList<>();
    byte[] raw = null;
    Reader r = new Reader(ByteBuffer.wrap(proto));
    while (r.hasMore()) {
      int tag = r.tag();
      int field = tag >>> 3;
      int wire = tag & 7;
      switch (field) {
        case 1:
          r.varints(wire, dims);
          break;
        case 2:
          dataType = (int) r.varint();
          break;
        case 4:
          if (wire == 2) {
            ByteBuffer b = ByteBuffer.wrap(r.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) {
              floats.add(b.getFloat());
            }
          } else {
            floats.add(Float.intBitsToFloat(r.fixed32()));
          }
          break;
        case 5:
        case 7:
        case 11:
          r.varints(wire, ints);
          break;
        case 6:
          strings.add(new String(r.bytes(), StandardCharsets.UTF_8));
          break;
        case 8:
          name = new String(r.bytes(), StandardCharsets.UTF_8);
          break;
        case 9:
          raw = r.bytes();
          break;
        case 10:
          if (wire == 2) {
            ByteBuffer b = ByteBuffer.wrap(r.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) {
              doubles.add(b.getDouble());
            }
          } else {
            doubles.add(Double.longBitsToDouble(r.fixed64()));
          }
          break;
        case 13:
          throw new IllegalArgumentException("tensor '" + name + "' keeps its data in a file");
        default:
          r.skip(tag);
      }
    }
    Tensor.DType dtype = dtype(dataType);
    if (dtype == null) {
      return new TensorProto(name, dataType, null);
    }
    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
    int n = Math.toIntExact(Tensor.elementCount(shape));
    Object values = dtype.newArray(n);
    if (dtype == Tensor.DType.STRING) {
      strings.toArray((String[]) values);
    } else if (raw != null) {
      ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
      switch (dtype) {
        case FLOAT:
          b.asFloatBuffer().get((float[]) values);
          break;
        case DOUBLE:
          b.asDoubleBuffer().get((double[]) values);
          break;
        case INT32:
          b.asIntBuffer().get((int[]) values);
          break;
        case INT64:
          b.asLongBuffer().get((long[]) values);
          break;
        case INT16:
        case FLOAT16:
        case BFLOAT16:
          b.asShortBuffer().get((short[]) values);
          break;
        default:
          b.get((byte[]) values);
      }
    } else {
      for (int i = 0; i < n; i++) {
        switch (dtype) {
          case FLOAT:
            ((float[]) values)[i] = floats.get(i);
            break;
          case DOUBLE:
            ((double[]) values)[i] = doubles.get(i);
            break;
          case INT32:
            ((int[]) values)[i] = (int) (long) ints.get(i);
            break;
          case INT64:
            ((long[]) values)[i] = ints.get(i);
            break;
          case INT16:
          case FLOAT16:
          case BFLOAT16:
            // int32_data holds the 16 bits of these types.
            ((short[]) values)[i] = (short) (long) ints.get(i);
            break;
          default:
            ((byte[]) values)[i] = (byte) (long) ints.get(i);
        }
      }
    }
    return new TensorProto(name, dataType, Tensor.of(dtype, values, shape));
  }

  /** The protobuf wire format, as far as these messages need it. */
  private static final class Reader {
    private final ByteBuffer in;

    Reader(ByteBuffer in) {
      this.in = in.order(ByteOrder.LITTLE_ENDIAN);
    }

    boolean hasMore() {
      return in.hasRemaining();
    }

    int tag() {
      return (int) varint();
    }

    long varint() {
      long value = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        byte b = in.get();
        value |= (long) (b & 0x7f) << shift;
        if (b >= 0) {
          return value;
        }
      }
      throw new IllegalArgumentException("malformed varint");
    }

    int fixed32() {
      return in.getInt();
    }

    long fixed64() {
      return in.getLong();
    }

    byte[] bytes() {
      byte[] b = new byte[Math.toIntExact(varint())];
      in.get(b);
      return b;
    }

    /** A repeated varint field, packed (wire type 2) or not. */
    void varints(int wire, List<Long> out) {
      if (wire == 2) {
        Reader packed = new Reader(ByteBuffer.wrap(bytes()));
        while (packed.hasMore()) {
          out.add(packed.varint());
        }
      } else {
        out.add(varint());
      }
    }

    void skip(int tag) {
      switch (tag & 7) {
        case 0:
          varint();
          break;
        case 1:
          in.position(in.position() + 8);
          break;
        case 2:
          int length = Math.toIntExact(varint());
          in.position(in.position() + length);
          break;
        case 5:
          in.position(in.position() + 4);
          break;
        default:
          throw new IllegalArgumentException("unsupported wire type " + (tag & 7));
      }
    }
  }
}
