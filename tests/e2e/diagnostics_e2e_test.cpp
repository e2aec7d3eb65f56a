// Every bad input fixture through the tool that reads it: exit status 1, no crash, and the first
// error line exactly as listed below, with the place of the error in it (line:col for text,
// byte offset or table path for objects, key path for configs, node index and name for ONNX,
// header field or byte offset for .npy). A fixture without an entry, or an entry without a
// fixture, fails: every fixture added later must say what its error looks like.
#include <filesystem>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = KPU_FIXTURES_DIR;

struct Diagnostic {
    const char* fixture;   // relative to tests/fixtures
    const char* firstLine; // the first error line; {file} stands for the fixture's path
};

const Diagnostic kDiagnostics[] = {
    // .dfg (kpu-kernel-compiler F): file:line:col.
    {"dfg/attribute_without_colon.dfg",
     "{file}:7:51: error: expected 'key:value' attribute, got 'target'"},
    {"dfg/bad_depth.dfg", "{file}:6:25: error: expected node depth, got 'one'"},
    {"dfg/bad_edge_arrow.dfg", "{file}:9:8: error: expected '->' after the source node id"},
    {"dfg/bad_stationary.dfg", "{file}:10:17: error: expected 'true' or 'false', got 'maybe'"},
    {"dfg/blank_only.dfg", "{file}:1:1: error: empty file"},
    {"dfg/cycle.dfg", "{file}:6:1: error: cycle in the graph through node 1 'matmul'"},
    {"dfg/duplicate_node_id.dfg",
     "{file}:7:6: error: duplicate node id 1 (first defined on line 6)"},
    {"dfg/duplicate_operand_slot.dfg", "{file}:10:43: error: operand slot 0 of node 1 'matmul' "
                                       "already has an incoming edge (line 9)"},
    {"dfg/edge_six_fields.dfg",
     "{file}:9:42: error: wrong number of fields in EDGE (got 6, expected 7 or 5)"},
    {"dfg/edge_to_undefined_node.dfg", "{file}:11:11: error: edge to undefined node 7"},
    {"dfg/empty.dfg", "{file}:1:1: error: empty file"},
    {"dfg/header_not_first.dfg",
     "{file}:3:1: error: 'Domain Flow Graph:' header must be the first line"},
    {"dfg/missing_colon_after_id.dfg", "{file}:5:8: error: expected ':' after the node id"},
    {"dfg/missing_nodes_line.dfg", "{file}:11:1: error: missing 'NODES' line"},
    {"dfg/node_id_overflow.dfg",
     "{file}:5:6: error: node id '99999999999999999999' is out of range"},
    {"dfg/non_numeric_node_id.dfg", "{file}:5:6: error: expected node id, got 'x1'"},
    {"dfg/operand_slot_out_of_range.dfg", "{file}:10:43: error: operand slot 5 of node 1 'matmul' "
                                          "is out of range (2 declared operands)"},
    {"dfg/slot_overflow.dfg",
     "{file}:10:43: error: destination slot 123456789012 is out of range (at most 65535)"},
    {"dfg/too_few_node_fields.dfg",
     "{file}:6:26: error: too few fields in NODE (got 3, expected 7 '|'-separated fields)"},
    {"dfg/too_many_node_fields.dfg",
     "{file}:7:53: error: too many fields in NODE (got 8, expected 7 '|'-separated fields)"},
    {"dfg/unknown_keyword.dfg", "{file}:2:1: error: unknown keyword 'UNDIRECTED'"},
    {"dfg/untyped_value.dfg",
     "{file}:3:38: error: cannot determine the type of result 0 of node 0 'const.A'"},

    // Configurations (kpu-loader OBJECT --config F --dry-run): the key path, or file:line:col
    // for JSON and YAML syntax.
    {"config/bad_capacity_absurd.json",
     "{file}: error: external_memory.bank_capacity_mb: capacity of 4398046511104 bytes exceeds the "
     "limit of 1099511627776 bytes (1 TiB)"},
    {"config/bad_capacity_overflow.json", "{file}: error: external_memory.bank_capacity_mb: "
                                          "18446744073709551615 overflows a 64-bit byte count"},
    {"config/bad_conflicting_units.json", "{file}: error: on_chip_memory.l3.tile_capacity_kb: "
                                          "conflicts with 'tile_capacity_mb'; give one"},
    {"config/bad_count_too_large.json", "{file}: error: data_movement.streamer_count: expected a "
                                        "positive integer at most 4294967295, got 4294967296"},
    {"config/bad_dma_bandwidth_negative.json",
     "{file}: error: data_movement.dma_bandwidth_gbps: expected a non-negative number, got -5"},
    {"config/bad_duplicate_key.json",
     "{file}: error: data_movement.dma_engine_count: duplicate key"},
    {"config/bad_fractional_count.json",
     "{file}: error: on_chip_memory.l3.tile_count: expected a positive integer, got 2.5"},
    {"config/bad_host_memory_type.json",
     "{file}: error: host_memory.region_count: expected a non-negative number, got \"one\""},
    {"config/bad_latency_negative.json",
     "{file}: error: on_chip_memory.l1.latency_cycles: expected a non-negative integer, got -1"},
    {"config/bad_negative_clock.json",
     "{file}: error: clock_ghz: expected a positive number, got -1.5"},
    {"config/bad_negative_count.json",
     "{file}: error: on_chip_memory.l2.bank_count: expected a positive integer, got -3"},
    {"config/bad_not_object.json",
     "{file}:1:1: error: expected a json object at the top level, got an array"},
    {"config/bad_rows_too_big.json",
     "{file}: error: compute.processor_array.rows: expected at most 4096, got 5000"},
    {"config/bad_section_type.json", "{file}: error: compute: expected an object, got 4"},
    {"config/bad_syntax.json", "{file}:3:3: error: syntax error while parsing object - unexpected "
                               "string literal; expected '}'"},
    {"config/bad_system_empty_banks.json",
     "{file}: error: accelerators[0].kpu_config.memory.banks: expected at least one entry, got an "
     "empty array"},
    {"config/bad_system_entry_type.json",
     "{file}: error: accelerators[0].kpu_config.memory.l2_banks[3]: expected an object, got 64"},
    {"config/bad_system_heterogeneous_banks.json",
     "{file}: error: accelerators[0].kpu_config.memory.banks[2].capacity_mb: differs from banks[0] "
     "(2048 MB vs 1024 MB); heterogeneous banks are not modelled"},
    {"config/bad_system_heterogeneous_dma.json",
     "{file}: error: accelerators[0].kpu_config.data_movement.dma_engines[1].bandwidth_gbps: "
     "differs from dma_engines[0] (25.5 GB/s vs 50 GB/s); heterogeneous DMA engines are not "
     "modelled"},
    {"config/bad_system_heterogeneous_tiles.json",
     "{file}: error: accelerators[0].kpu_config.compute_fabric.tiles[1].systolic_cols: differs "
     "from tiles[0] (32 vs 16); heterogeneous compute tiles are not modelled"},
    {"config/bad_system_no_kpu.json",
     "{file}: error: accelerators: no entry with \"type\": \"KPU\""},
    {"config/bad_system_tile_type.json",
     "{file}: error: accelerators[0].kpu_config.compute_fabric.tiles[1].type: expected "
     "\"systolic\" (the only tile type modelled), got \"simd\""},
    {"config/bad_system_typo_accelerators.json",
     "{file}: error: acelerators: unknown key, did you mean 'accelerators'?"},
    {"config/bad_system_unknown_key.json",
     "{file}: error: accelerators[0].kpu_config.memory.l3_tile: unknown key, did you mean "
     "'l3_tiles'?"},
    {"config/bad_systolic_type.json",
     "{file}: error: compute.systolic_mode: expected true or false, got \"yes\""},
    {"config/bad_type_string.json",
     "{file}: error: compute.processor_array.rows: expected a positive integer, got \"eight\""},
    {"config/bad_typo_key.json",
     "{file}: error: on_chip_memory.l2.bank_cout: unknown key, did you mean 'bank_count'?"},
    {"config/bad_unknown_key.json", "{file}: error: frobnicate: unknown key"},
    {"config/bad_unterminated.json", "{file}:4:1: error: syntax error while parsing object key - "
                                     "unexpected end of input; expected string literal"},
    {"config/bad_yaml_duplicate_key.yaml",
     "{file}: error: data_movement.dma_engine_count: duplicate key"},
    {"config/bad_yaml_not_mapping.yaml",
     "{file}:2:1: error: expected a yaml mapping at the top level, got a sequence"},
    {"config/bad_yaml_syntax.yaml", "{file}:4:17: error: end of sequence flow not found"},
    {"config/bad_yaml_tab.yaml", "{file}:2:12: error: illegal map value"},
    {"config/bad_yaml_type.yaml",
     "{file}: error: compute.processor_array.rows: expected a positive integer, got \"eight\""},
    {"config/bad_yaml_typo_key.yaml",
     "{file}: error: on_chip_memory.l2.bank_cout: unknown key, did you mean 'bank_count'?"},
    {"config/bad_zero_bandwidth.json",
     "{file}: error: external_memory.bandwidth_gbps: expected a positive number, got 0"},

    // .npy (kpu-loader OBJECT --input x=F): the preamble bytes, the header byte or key, where
    // the data starts; or, for a readable file that does not fit, the input it is bound to.
    {"npy/bad_big_endian.npy", "{file}: error: npy header 'descr' at byte 20: big-endian dtype "
                               "'>f4' is not supported; convert with astype('<f4')"},
    {"npy/bad_dtype_i8.npy", "{file}: error: input 'x' holds i64 values, the tensor is f32 (only "
                             "floating-point types are converted into each other)"},
    {"npy/bad_dtype_no_order.npy",
     "{file}: error: npy header 'descr' at byte 20: dtype '|f4' has no byte order; expected '<f4'"},
    {"npy/bad_duplicate_key.npy",
     "{file}: error: bad npy header at byte 27: duplicate key 'descr'"},
    {"npy/bad_empty.npy",
     "{file}: error: not an npy file: 0 bytes, shorter than the 6-byte magic '\\x93NUMPY'"},
    {"npy/bad_extra_data.npy",
     "{file}: error: data from byte 68 is 20 bytes, but shape (4,) of f32 needs 16 bytes"},
    {"npy/bad_fortran_not_bool.npy",
     "{file}: error: bad npy header at byte 44: expected True or False for 'fortran_order'"},
    {"npy/bad_fortran_order.npy",
     "{file}: error: npy header 'fortran_order' at byte 44: fortran-order arrays are not "
     "supported; save with np.ascontiguousarray"},
    {"npy/bad_header_length.npy",
     "{file}: error: npy header length 5000 (bytes 8-9) exceeds the 74 bytes after the preamble"},
    {"npy/bad_huge_dim.npy",
     "{file}: error: bad npy header at byte 79: dimension in 'shape' is too large"},
    {"npy/bad_magic.npy",
     "{file}: error: not an npy file: bytes 0-5 are '\\x93NUMPZ', not the magic '\\x93NUMPY'"},
    {"npy/bad_missing_shape.npy",
     "{file}: error: bad npy header at byte 49: the dictionary has no 'shape' key"},
    {"npy/bad_negative_dim.npy",
     "{file}: error: bad npy header at byte 61: expected a non-negative integer in 'shape'"},
    {"npy/bad_object.npy",
     "{file}: error: npy header 'descr' at byte 20: object arrays are not supported (dtype '|O')"},
    {"npy/bad_shape_overflow.npy", "{file}: error: npy header 'shape' at byte 60: the byte size of "
                                   "shape (4294967296, 4294967296) of f32 overflows"},
    {"npy/bad_short_data.npy",
     "{file}: error: data from byte 68 is 12 bytes, but shape (4,) of f32 needs 16 bytes"},
    {"npy/bad_structured.npy",
     "{file}: error: bad npy header at byte 20: structured dtypes are not supported"},
    {"npy/bad_trailing_garbage.npy",
     "{file}: error: bad npy header at byte 68: unexpected characters after the dictionary"},
    {"npy/bad_truncated_preamble.npy",
     "{file}: error: truncated npy preamble: 9 bytes, the header length (bytes 8-9) needs 10"},
    {"npy/bad_unknown_key.npy", "{file}: error: bad npy header at byte 66: unknown key 'foo'"},
    {"npy/bad_unterminated_string.npy",
     "{file}: error: bad npy header at byte 24: unterminated string"},
    {"npy/bad_version.npy", "{file}: error: unsupported npy format version 4.0 (bytes 6-7); this "
                            "reader reads 1.0, 2.0 and 3.0"},

    // ONNX TensorProto (kpu-loader OBJECT --input x=F): the tensor and its field.
    {"pb/bad_dims_data_mismatch.pb", "{file}: error: tensor 'x': raw_data holds 16 bytes, the dims "
                                     "[2, 3] and type FLOAT need 24 (6 elements of 4 bytes)"},
    {"pb/bad_external_outside.pb",
     "{file}: error: tensor 'x': external data location '../outside.bin' leaves the directory of "
     "the file that refers to it ('..')"},
    {"pb/bad_float_data_count.pb",
     "{file}: error: tensor 'x': float_data holds 3 values, the dims [4] need 4"},
    {"pb/bad_negative_dim.pb", "{file}: error: tensor 'x': dims[0] is negative (-4)"},
    {"pb/bad_no_data_type.pb", "{file}: error: not an ONNX TensorProto: it has no data_type"},
    {"pb/bad_not_a_tensor.pb", "{file}: error: not a serialized ONNX TensorProto: protobuf "
                               "parsing fails at byte 0x0 (name): wire type 4 is not valid here"},
    {"pb/bad_truncated.pb", "{file}: error: not a serialized ONNX TensorProto: protobuf parsing "
                            "fails at byte 0x7 (raw_data): needs 16 bytes, 11 are left"},
    {"pb/bad_two_data_fields.pb", "{file}: error: tensor 'x': both raw_data and float_data are "
                                  "set; a tensor stores its values in one of them"},
    {"pb/bad_unsupported_type.pb",
     "{file}: error: tensor 'x': element type BOOL is not supported (supported: FLOAT, FLOAT16, "
     "DOUBLE, FLOAT8E4M3FN, INT8, INT32, INT64)"},

    // ONNX models (kpu-kernel-compiler F): the node index, name and operator.
    {"onnx/bad_attribute_value.onnx",
     "{file}: error: node 1 'softmax1' (Softmax): axis 5 is out of range for rank 2"},
    {"onnx/bad_dangling_input.onnx",
     "{file}: error: node 1 'add1' (Add): input 'missing' is not produced by any earlier node"},
    {"onnx/bad_input_type.onnx",
     "{file}: error: node 0 'relu0' (Relu): element type UINT8 of graph input 'x' is not "
     "supported: only float inputs are computed on (an input used as a shape or axes must be fixed "
     "with --const x=FILE)"},
    {"onnx/bad_not_a_model.onnx",
     "{file}: error: not an ONNX model: protobuf parsing fails at byte 0x0 (opset_import[0]): "
     "wire type 4 is not valid here"},
    {"onnx/bad_truncated.onnx", "{file}: error: not an ONNX model: protobuf parsing fails at "
                                "byte 0x14 (graph): needs 95 bytes, 60 are left"},
    {"onnx/bad_unknown_attribute.onnx",
     "{file}: error: node 0 'relu0' (Relu): attribute 'alpha' is not supported"},
    {"onnx/bad_unsupported_op.onnx",
     "{file}: error: node 1 'hardmax1' (Hardmax): operator Hardmax is not supported"},

    // Objects (kpu-loader F): the byte offset and table path (stage one), the table path
    // (stage two).
    {"objects/bad_dep_index.kpu",
     "{file}: error: dep_indices[3]: op index 1000 out of range (object has 8 ops)"},
    {"objects/bad_dependency_cycle.kpu", "{file}: error: dependency cycle: ops 1 -> 4 -> 1"},
    {"objects/bad_identifier.kpu",
     "{file}: error: not a KPU object: file identifier is 'ONNX', expected 'KPUX'"},
    {"objects/bad_kernel_input.kpu", "{file}: error: kernels[0] '2-input MATMUL#3'.inputs[1]: "
                                     "tensor index 7 out of range (object has 3 tensors)"},
    {"objects/bad_offset_out_of_bounds.kpu",
     "{file}: error: corrupt KPU object at byte 0x44c (tensors[1].shape): FlatBuffers verification "
     "failed: offset out of bounds: 0x7fffff00 points to byte 0x8000034c, the file has 1312 bytes"},
    {"objects/bad_op_kind.kpu", "{file}: error: ops[2].kind: unknown value 255"},
    {"objects/bad_op_tensor_index.kpu",
     "{file}: error: ops[0].index: tensor index 9 out of range (object has 3 tensors)"},
    {"objects/bad_region.kpu", "{file}: error: ops[0].region: origin [0,0,0,0] extent [1,1,4,32] "
                               "is outside tensor 'A' (1x1x4x16)"},
    {"objects/bad_root_offset.kpu",
     "{file}: error: corrupt KPU object at byte 0x0 (the buffer header): FlatBuffers verification "
     "failed: root offset out of bounds: 0x10000 points to byte 0x10000, the file has 1312 bytes"},
    {"objects/bad_shape_overflow.kpu",
     "{file}: error: tensors[0] 'A'.shape: 1099511627776x1099511627776 elements of f32 overflow "
     "the 281474976710656-byte limit"},
    {"objects/bad_string_unterminated.kpu",
     "{file}: error: corrupt KPU object at byte 0x434 (tensors[2].name): FlatBuffers verification "
     "failed: string not terminated: the byte after its 4 bytes is 0x21, not 0"},
    {"objects/bad_too_small.kpu", "{file}: error: file is too small to be a KPU object: 5 bytes, "
                                  "the header (root offset and file identifier, bytes 0-7) "
                                  "needs 8"},
    {"objects/bad_truncated.kpu",
     "{file}: error: corrupt KPU object at byte 0x38 (producer): FlatBuffers verification failed: "
     "offset out of bounds: 0x4c8 points to byte 0x500, the file has 656 bytes"},
    {"objects/bad_vector_past_end.kpu",
     "{file}: error: corrupt KPU object at byte 0x3cc (kernels[0].inputs): FlatBuffers "
     "verification failed: vector past the end of the buffer: 1000000 elements of 4 bytes end at "
     "byte 0x3d0cd0, the file has 1312 bytes"},
    {"objects/bad_version.kpu", "{file}: error: object format version 9.0 is not supported; this "
                                "loader reads versions 2.x to 4.x"},
    {"objects/bad_vtable.kpu",
     "{file}: error: corrupt KPU object at byte 0x350 (kernels[0].params): FlatBuffers "
     "verification failed: vtable out of bounds: the table's vtable offset 2147418112 points "
     "2147417264 bytes before the start of the file"},
};

// The fixtures that are bad inputs: every .dfg, and the bad_* files of the other folders.
std::set<std::string> badFixtures() {
    std::set<std::string> found;
    for (const std::string folder : {"dfg", "config", "npy", "pb", "onnx", "objects"})
        for (const auto& entry : fs::directory_iterator(kFixtures / folder)) {
            const std::string name = entry.path().filename().string();
            const std::string ext = entry.path().extension().string();
            if (folder == "dfg" ? ext == ".dfg" : name.starts_with("bad_") && ext != ".py")
                found.insert(folder + "/" + name);
        }
    return found;
}

TEST(DiagnosticsTable, EveryBadFixtureHasAnEntryAndEveryEntryAFixture) {
    const std::set<std::string> fixtures = badFixtures();
    std::set<std::string> listed;
    for (const Diagnostic& d : kDiagnostics) {
        EXPECT_TRUE(listed.insert(d.fixture).second) << "listed twice: " << d.fixture;
        EXPECT_TRUE(fixtures.contains(d.fixture)) << "listed, but no such fixture: " << d.fixture;
    }
    for (const std::string& f : fixtures)
        EXPECT_TRUE(listed.contains(f)) << "fixture without an expected message: " << f;
    EXPECT_GE(fixtures.size(), 100u);
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

// The first line of stderr that reports an error (warnings may come before it).
std::string firstErrorLine(const std::string& err) {
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);)
        if (line.find(" error: ") != std::string::npos)
            return line;
    return "(no error line in: " + err + ")";
}

class Diagnostics : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new ScratchDir("diagnostics");
        // A valid object with one f32 input x of shape [4], for the configs and value files: the
        // .npy and .pb fixtures that parse hold 4 values, so what they report is their defect.
        DfgBuilder g("relu4");
        const DfgValue x = g.input("x", {4});
        g.output({g.node("RELU", {x}, DfgResult{"y", {4}})});
        ASSERT_TRUE(writeTextFile(dir_->file("relu4.dfg"), g.str()));
        object_ = dir_->file("relu4.kpu");
        auto r = runCommand({KPU_COMPILER_EXE, dir_->file("relu4.dfg"), "-o", object_});
        ASSERT_EQ(r.exitCode, 0) << r.err;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    // The command that reads a fixture of `folder`.
    static std::vector<std::string> commandFor(const std::string& folder, const std::string& path) {
        if (folder == "dfg" || folder == "onnx")
            return {KPU_COMPILER_EXE, path, "-o", "/dev/null"};
        if (folder == "config")
            return {KPU_LOADER_EXE, object_, "--config", path, "--dry-run"};
        if (folder == "objects")
            return {KPU_LOADER_EXE, path};
        return {KPU_LOADER_EXE, object_, "--input", "x=" + path}; // npy, pb
    }

    // Runs `tool` (or the folder's reader) on every listed fixture of `folder` and checks its
    // exit status and first error line.
    static void checkFolder(const std::string& folder, const std::string& tool = "") {
        int checked = 0;
        for (const Diagnostic& d : kDiagnostics) {
            const std::string fixture = d.fixture;
            if (!fixture.starts_with(folder + "/"))
                continue;
            const std::string path = (kFixtures / fixture).string();
            auto r = runCommand(tool.empty() ? commandFor(folder, path)
                                             : std::vector<std::string>{tool, path});
            EXPECT_EQ(r.exitCode, 1) << fixture << ": " << r.err;
            EXPECT_FALSE(r.crashed) << fixture;
            EXPECT_EQ(firstErrorLine(r.err), replaceAll(d.firstLine, "{file}", path)) << fixture;
            ++checked;
        }
        EXPECT_GT(checked, 0) << folder;
    }

    static inline ScratchDir* dir_ = nullptr;
    static inline std::string object_;
};

TEST_F(Diagnostics, DfgFilesNameLineAndColumn) {
    checkFolder("dfg");
}

TEST_F(Diagnostics, ConfigsNameKeyPathOrLineAndColumn) {
    checkFolder("config");
}

TEST_F(Diagnostics, NpyFilesNameHeaderFieldOrByte) {
    checkFolder("npy");
}

TEST_F(Diagnostics, TensorProtoFilesNameTensorAndField) {
    checkFolder("pb");
}

TEST_F(Diagnostics, OnnxModelsNameTheNode) {
    checkFolder("onnx");
}

TEST_F(Diagnostics, ObjectsNameByteOffsetOrTablePath) {
    checkFolder("objects");
}

// kpu-disasm runs the same two verification stages: the same first line for every object.
TEST_F(Diagnostics, DisassemblerReportsObjectsAsTheLoaderDoes) {
    checkFolder("objects", KPU_DISASM_EXE);
}

} // namespace
} // namespace kpu::test
