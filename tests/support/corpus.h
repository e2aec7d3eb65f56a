// The real .dfg corpus (KPU_SHARED_DIR/dfg-corpus): its manifest, and the files whose graphs
// cannot be computed, with the reason the compiler must give.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kpu::test {

inline const std::string kCorpusDir = std::string(KPU_SHARED_DIR) + "/dfg-corpus";
inline constexpr std::size_t kCorpusFileCount = 59;

// One line of MANIFEST.tsv.
struct CorpusEntry {
    std::string path; // relative to kCorpusDir
    std::int64_t nodes = 0;
    std::vector<std::string> operators;

    std::string fullPath() const { return kCorpusDir + "/" + path; }
    bool hasOnly(const std::vector<std::string>& allowed) const {
        return std::ranges::all_of(operators, [&](const std::string& op) {
            return std::ranges::find(allowed, op) != allowed.end();
        });
    }
};

// Every file MANIFEST.tsv lists, in its order (empty when the manifest cannot be read).
inline std::vector<CorpusEntry> corpusManifest() {
    std::ifstream manifest(kCorpusDir + "/MANIFEST.tsv");
    std::vector<CorpusEntry> entries;
    std::string line;
    std::getline(manifest, line); // header: local_path repo repo_path commit bytes nodes ops
    while (std::getline(manifest, line)) {
        if (line.empty())
            continue;
        std::vector<std::string> cols;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, '\t');)
            cols.push_back(c);
        CorpusEntry e;
        e.path = cols.at(0);
        if (cols.size() > 5)
            e.nodes = std::stoll(cols[5]);
        if (cols.size() > 6) {
            std::stringstream ops(cols[6]);
            for (std::string op; std::getline(ops, op, ',');)
                e.operators.push_back(op);
        }
        entries.push_back(std::move(e));
    }
    return entries;
}

// A corpus file whose graph is not computable: the compiler refuses it (exit status 1) and its
// diagnostics contain every one of `reasons`.
struct UncomputableFile {
    std::string path;
    std::vector<std::string> reasons;
    std::string why; // for people
};

inline const std::vector<UncomputableFile>& uncomputableCorpusFiles() {
    static const std::vector<UncomputableFile> files{
        {"branes-ai+dfa-dynamics/data/workloads/oneLayerMLP.dfg",
         {"node 1 'linear' (LINEAR): operand 0 'inputImage' has element type i8; expected a "
          "float type"},
         "LINEAR reads an i8 input, and its declared shapes are inconsistent"},
        {"branes-ai+dfa-dynamics/data/tosa/test1.dfg",
         {"node 4 'tosa.matmul' operand 1: declared tensor<1x4x4xf32>, value 'arg1' is "
          "tensor<1x1x4xf32>",
          "node 4 'tosa.matmul' (MATMUL): inner dimensions differ"},
         "arg1 is used with two different types (1x1x4 by the ADD, 1x4x4 by the MATMUL)"},
        {"branes-ai+dfa-dynamics@7aa97c2618/data/dfg/mobilenet_v2_tosa.dfg",
         {"node 108 'tosa.conv2d' (CONV2D): result is 1x112x112x32, expected 1x222x222x32 (the "
          "node has no stride, pad or dilation attributes"},
         "convolutions without stride/pad attributes whose declared shapes contradict the "
         "defaults"},
    };
    return files;
}

inline const UncomputableFile* findUncomputable(const std::string& path) {
    for (const auto& f : uncomputableCorpusFiles())
        if (f.path == path)
            return &f;
    return nullptr;
}

// A gtest-safe name for a corpus path.
inline std::string corpusTestName(const std::string& path) {
    std::string name;
    for (char c : path)
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return name;
}

} // namespace kpu::test
