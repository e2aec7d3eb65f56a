// Stage one of object verification names where a FlatBuffers-level corruption is: the byte
// offset, the table path and why (dfx::locateCorruption), since the FlatBuffers Verifier itself
// only says yes or no.
#include <cstring>

#include <gtest/gtest.h>

#include "kpu/compiler/compiler.h"
#include "kpu/schema/object.h"

namespace kpu::dfx {
namespace {

using flatbuffers::voffset_t;

class ObjectCorruption : public ::testing::Test {
protected:
    void SetUp() override {
        // Explicit ops: every table and vector of the schema's main path is present.
        auto compiled = compiler::compileDfgFile(
            std::string(KPU_SOURCE_DIR) + "/examples/matmul_4x16x4.dfg", {.explicitOps = true});
        ASSERT_TRUE(compiled) << compiled.error().message;
        valid_ = compiled->object;
        program_ = GetProgram(valid_.data());
        ASSERT_EQ(program_->tensors()->size(), 3u);
        ASSERT_TRUE(program_->kernels()->Get(0)->params());
    }

    // Byte offset of a pointer into the valid object.
    std::size_t at(const void* p) const {
        return static_cast<std::size_t>(static_cast<const std::uint8_t*>(p) - valid_.data());
    }
    // Byte offset of a present field of a table of the valid object.
    template <class T>
    std::size_t fieldAt(const T* table, voffset_t slot) const {
        const auto* address =
            reinterpret_cast<const flatbuffers::Table*>(table)->GetAddressOf(slot);
        EXPECT_NE(address, nullptr);
        return at(address);
    }

    template <class V>
    std::vector<std::uint8_t> with(std::size_t pos, V value) const {
        auto bytes = valid_;
        std::memcpy(bytes.data() + pos, &value, sizeof(V));
        return bytes;
    }

    // The site of a buffer the Verifier refuses; the locator must find one exactly then.
    static CorruptionSite locate(const std::vector<std::uint8_t>& bytes) {
        flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
        EXPECT_FALSE(VerifyProgramBuffer(verifier));
        auto site = locateCorruption(bytes);
        EXPECT_TRUE(site);
        return site.value_or(CorruptionSite{});
    }

    std::string fileHas() const { return fmt::format("the file has {} bytes", valid_.size()); }

    std::vector<std::uint8_t> valid_;
    const Program* program_ = nullptr;
};

TEST_F(ObjectCorruption, ValidObjectHasNoSite) {
    EXPECT_FALSE(locateCorruption(valid_));
    EXPECT_TRUE(verifyStructure(valid_, "m.kpu"));
}

TEST_F(ObjectCorruption, OffsetOutOfBoundsNamesTheFieldAndTheOffsetsByte) {
    const std::size_t pos = fieldAt(program_->tensors()->Get(1), Tensor::VT_SHAPE);
    const auto bytes = with<std::uint32_t>(pos, 0x7fffff00);
    const CorruptionSite site = locate(bytes);
    EXPECT_EQ(site.offset, pos);
    EXPECT_EQ(site.path, "tensors[1].shape");
    EXPECT_EQ(site.reason, fmt::format("offset out of bounds: 0x7fffff00 points to byte {:#x}, {}",
                                       pos + 0x7fffff00, fileHas()));
    // The whole message: the first words stay "corrupt KPU object", then the place.
    auto r = verifyStructure(bytes, "m.kpu");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              fmt::format("m.kpu: error: corrupt KPU object at byte {:#x} (tensors[1].shape): "
                          "FlatBuffers verification failed: {}",
                          pos, site.reason));
}

TEST_F(ObjectCorruption, VectorPastTheEnd) {
    const std::size_t pos = at(program_->kernels()->Get(0)->inputs());
    const CorruptionSite site = locate(with<std::uint32_t>(pos, 1'000'000));
    EXPECT_EQ(site.offset, pos);
    EXPECT_EQ(site.path, "kernels[0].inputs");
    EXPECT_EQ(site.reason, fmt::format("vector past the end of the buffer: 1000000 elements of 4 "
                                       "bytes end at byte {:#x}, {}",
                                       pos + 4 + 4'000'000, fileHas()));
}

TEST_F(ObjectCorruption, StringNotTerminated) {
    const auto* name = program_->tensors()->Get(2)->name(); // "Cout"
    const CorruptionSite site = locate(with<std::uint8_t>(at(name) + 4 + name->size(), '!'));
    EXPECT_EQ(site.offset, at(name));
    EXPECT_EQ(site.path, "tensors[2].name");
    EXPECT_EQ(site.reason, "string not terminated: the byte after its 4 bytes is 0x21, not 0");
}

TEST_F(ObjectCorruption, NestedTableWithAWildVtable) {
    const auto* params = program_->kernels()->Get(0)->params();
    const CorruptionSite site = locate(with<std::int32_t>(at(params), 0x7fff0000));
    EXPECT_EQ(site.offset, at(params));
    EXPECT_EQ(site.path, "kernels[0].params");
    EXPECT_EQ(site.reason, fmt::format("vtable out of bounds: the table's vtable offset 2147418112 "
                                       "points {} bytes before the start of the file",
                                       0x7fff0000 - at(params)));
}

TEST_F(ObjectCorruption, ElementOfAVectorOfTablesPointingOutside) {
    const std::size_t slot = at(program_->tensors()->data()) + 4 * 2;
    const CorruptionSite site = locate(with<std::uint32_t>(slot, 0x40000000));
    EXPECT_EQ(site.offset, slot);
    EXPECT_EQ(site.path, "tensors[2]");
    EXPECT_TRUE(site.reason.starts_with("offset out of bounds: 0x40000000")) << site.reason;
}

TEST_F(ObjectCorruption, RequiredFieldMissing) {
    // Clear the root vtable's entry for `tensors`.
    const auto* root = reinterpret_cast<const flatbuffers::Table*>(program_);
    const std::size_t entry = at(root->GetVTable()) + Program::VT_TENSORS;
    const CorruptionSite site = locate(with<voffset_t>(entry, 0));
    EXPECT_EQ(site.offset, at(program_));
    EXPECT_EQ(site.path, "tensors");
    EXPECT_EQ(site.reason, "required field missing");
}

TEST_F(ObjectCorruption, MisalignedScalarField) {
    // format_major (ushort) moved to an odd offset inside the root table.
    const auto* root = reinterpret_cast<const flatbuffers::Table*>(program_);
    const std::size_t entry = at(root->GetVTable()) + Program::VT_FORMAT_MAJOR;
    const CorruptionSite site = locate(with<voffset_t>(entry, 5));
    EXPECT_EQ(site.offset, at(program_) + 5);
    EXPECT_EQ(site.path, "format_major");
    EXPECT_EQ(site.reason,
              fmt::format("misaligned field: byte {:#x} is not a multiple of 2", at(program_) + 5));
}

TEST_F(ObjectCorruption, BufferHeaderAndRootTable) {
    CorruptionSite site = locate(with<std::uint32_t>(0, 0x10000));
    EXPECT_EQ(site.offset, 0u);
    EXPECT_EQ(site.path, "the buffer header");
    EXPECT_EQ(site.reason,
              "root offset out of bounds: 0x10000 points to byte 0x10000, " + fileHas());

    site = locate(with<std::int32_t>(at(program_), -0x100000));
    EXPECT_EQ(site.offset, at(program_));
    EXPECT_EQ(site.path, "the root table");
    EXPECT_TRUE(site.reason.starts_with("vtable out of bounds")) << site.reason;

    // The identifier fits, but not a root table: smaller than any FlatBuffer.
    const std::vector<std::uint8_t> tiny{12, 0, 0, 0, 'K', 'P', 'U', 'X', 0, 0};
    site = locate(tiny);
    EXPECT_EQ(site.path, "the buffer header");
    EXPECT_EQ(site.reason, "a FlatBuffer has at least 12 bytes, the file has 10");
}

// The locator agrees with the Verifier on every truncation and every single-byte overwrite of
// a valid object: it finds a site exactly when the Verifier refuses the buffer, and its message
// always has the place. Returns how many buffers were refused.
int sweepTruncationsAndOverwrites(const std::vector<std::uint8_t>& valid) {
    int refused = 0;
    auto check = [&](const std::vector<std::uint8_t>& bytes, const std::string& what) {
        flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
        const bool ok = VerifyProgramBuffer(verifier);
        const auto site = locateCorruption(bytes);
        ASSERT_EQ(ok, !site) << what << (site ? ": " + site->path + ": " + site->reason : "");
        if (site) {
            ++refused;
            EXPECT_FALSE(site->path.empty()) << what;
            // Every refusal is narrowed to a piece: the field list of each table is complete.
            EXPECT_NE(site->reason, "the table fails verification, but none of its fields alone")
                << what << ": " << site->path;
            auto r = verifyStructure(bytes, "m.kpu");
            ASSERT_FALSE(r) << what;
            EXPECT_TRUE(
                r.error().message.starts_with("m.kpu: error: corrupt KPU object at byte 0x"))
                << what << ": " << r.error().message;
        }
    };
    for (std::size_t n = 12; n < valid.size(); ++n)
        check({valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n)},
              fmt::format("truncated to {} bytes", n));
    for (std::size_t i = 0; i < valid.size(); ++i)
        for (std::uint8_t v : {std::uint8_t{0x00}, std::uint8_t{0x7f}, std::uint8_t{0xff}}) {
            if (i >= 4 && i < 8)
                continue; // the file identifier: refused before the Verifier runs
            auto bytes = valid;
            bytes[i] = v;
            check(bytes, fmt::format("byte {} set to {:#x}", i, v));
        }
    return refused;
}

TEST_F(ObjectCorruption, AgreesWithTheVerifierOnEveryTruncationAndOverwrite) {
    EXPECT_GT(sweepTruncationsAndOverwrites(valid_), 1000);
    // TileLoops kernels, a graph section with params, hints: the default encoding.
    auto mlp = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg", {});
    ASSERT_TRUE(mlp) << mlp.error().message;
    EXPECT_GT(sweepTruncationsAndOverwrites(mlp->object), 2000);
}

} // namespace
} // namespace kpu::dfx
