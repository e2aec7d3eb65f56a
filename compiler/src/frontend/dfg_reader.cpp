// .dfg reader: one pass over the lines, one small parser per keyword. Every field is a
// string_view into the input plus its 1-based column, so each diagnostic can point at the field
// that is wrong. No recursion, no exceptions, no assumption about the bytes of the input.
#include "kpu/compiler/dfg_reader.h"

#include <charconv>
#include <limits>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "kpu/common/file_io.h"
#include "kpu/common/utf8.h"

namespace kpu::dfg {
namespace {

constexpr std::string_view kHeader = "Domain Flow Graph:";

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isAlpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A piece of a line with the 1-based column of its first character.
struct Field {
    std::string_view text;
    std::uint32_t column = 1;
};

std::uint32_t toU32(std::size_t n) {
    return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                         : static_cast<std::uint32_t>(n);
}

Field trim(Field f) {
    std::size_t begin = 0;
    while (begin < f.text.size() && isSpace(f.text[begin]))
        ++begin;
    std::size_t end = f.text.size();
    while (end > begin && isSpace(f.text[end - 1]))
        --end;
    return {f.text.substr(begin, end - begin), toU32(f.column + begin)};
}

std::string_view trim(std::string_view s) {
    return trim(Field{s, 1}).text;
}

// Text for a diagnostic: non-printable bytes escaped, long text shortened.
std::string printable(std::string_view s) {
    constexpr std::size_t kMax = 40;
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f)
            out += static_cast<char>(c);
        else
            out += fmt::format("\\x{:02x}", c);
    }
    if (s.size() > kMax)
        out += "...";
    return out;
}

// Splits on `sep` (no nesting), keeping columns.
std::vector<Field> splitPlain(Field f, char sep) {
    std::vector<Field> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= f.text.size(); ++i) {
        if (i == f.text.size() || f.text[i] == sep) {
            parts.push_back({f.text.substr(start, i - start), toU32(f.column + start)});
            start = i + 1;
        }
    }
    return parts;
}

bool isOpen(char c) {
    return c == '<' || c == '(' || c == '[' || c == '{';
}
bool isClose(char c) {
    return c == '>' || c == ')' || c == ']' || c == '}';
}

// "12:" at the start of an item (a slot prefix)?
std::size_t slotPrefixLength(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && isDigit(s[i]))
        ++i;
    if (i == 0 || i >= s.size() || s[i] != ':')
        return 0;
    return i + 1;
}

// Does `rest` (text after a comma) start a new list item: a slot prefix or a type like "tensor<"?
bool startsNewTypeItem(std::string_view rest) {
    rest = trim(rest);
    if (slotPrefixLength(rest) != 0)
        return true;
    std::size_t i = 0;
    while (i < rest.size() && isAlpha(rest[i]))
        ++i;
    return i > 0 && i < rest.size() && rest[i] == '<';
}

// Splits a comma list aware of <...> nesting. Unbalanced lists (a type without its closing '>')
// still split where a new type item evidently starts, when `typeList` is set.
std::vector<Field> splitNested(Field f, bool typeList) {
    std::vector<Field> parts;
    std::size_t start = 0;
    std::int64_t depth = 0;
    for (std::size_t i = 0; i <= f.text.size(); ++i) {
        if (i == f.text.size()) {
            parts.push_back({f.text.substr(start), toU32(f.column + start)});
            break;
        }
        const char c = f.text[i];
        if (isOpen(c)) {
            ++depth;
        } else if (isClose(c)) {
            if (depth > 0)
                --depth;
        } else if (c == ',' &&
                   (depth == 0 || (typeList && startsNewTypeItem(f.text.substr(i + 1))))) {
            parts.push_back({f.text.substr(start, i - start), toU32(f.column + start)});
            start = i + 1;
            depth = 0;
        }
    }
    return parts;
}

enum class Sign { NonNegative, Any };

class Parser {
public:
    Parser(std::string_view text, std::string_view fileName) : text_(text), fileName_(fileName) {}

    Expected<File> run() {
        std::size_t start = text_.starts_with("\xEF\xBB\xBF") ? 3 : 0; // a UTF-8 byte order mark
        std::uint32_t lineNo = 0;
        while (start < text_.size()) {
            std::size_t end = text_.find('\n', start);
            if (end == std::string_view::npos)
                end = text_.size();
            std::string_view line = text_.substr(start, end - start);
            while (!line.empty() && line.back() == '\r')
                line.remove_suffix(1);
            start = end + 1;
            if (lineNo == std::numeric_limits<std::uint32_t>::max())
                return error(lineNo, 1, "too many lines");
            ++lineNo;
            line_ = lineNo;
            // Names and types travel into objects and JSON reports, which hold UTF-8 only.
            if (const auto bad = firstInvalidUtf8(line))
                return error(lineNo, static_cast<std::uint32_t>(*bad + 1),
                             "byte {:#04x} is not valid UTF-8",
                             static_cast<unsigned>(static_cast<unsigned char>(line[*bad])));
            if (auto r = parseLine(line); !r)
                return std::unexpected(r.error());
        }
        if (!sawContent_)
            return error(1, 1, "empty file");
        if (!nodesLine_)
            return error(lastContentLine_, 1, "missing 'NODES' line");
        checkCount("NODES", nodesLine_, declaredNodes_, file_.nodes.size(), "NODE");
        checkCount("EDGES", edgesLine_, declaredEdges_, file_.edges.size(), "EDGE");
        checkCount("ADJACENCY", adjacencyLine_, declaredAdjacency_, adjLines_, "ADJ");
        return std::move(file_);
    }

private:
    template <class... Args>
    std::unexpected<Error> error(std::uint32_t line, std::uint32_t col,
                                 fmt::format_string<Args...> format, Args&&... args) const {
        return fail("{}:{}:{}: error: {}", fileName_, line, col,
                    fmt::format(format, std::forward<Args>(args)...));
    }

    SourceLoc loc(std::uint32_t col) const { return {line_, col}; }

    void checkCount(std::string_view keyword, std::uint32_t line, std::int64_t declared,
                    std::size_t found, std::string_view item) {
        if (line == 0 || declared == static_cast<std::int64_t>(found))
            return;
        file_.warnings.push_back(
            fmt::format("{}:{}: warning: {} declares {}, but {} {} lines follow", fileName_, line,
                        keyword, declared, found, item));
    }

    Expected<std::int64_t> parseInt(Field f, std::string_view what, Sign sign) const {
        f = trim(f);
        if (f.text.empty())
            return error(line_, f.column, "missing {}", what);
        std::size_t i = 0;
        if (sign == Sign::Any && f.text[0] == '-')
            i = 1;
        if (i == f.text.size())
            return error(line_, f.column, "expected {}, got '{}'", what, printable(f.text));
        for (std::size_t j = i; j < f.text.size(); ++j)
            if (!isDigit(f.text[j]))
                return error(line_, f.column, "expected {}, got '{}'", what, printable(f.text));
        std::int64_t value = 0;
        const char* first = f.text.data();
        const char* last = f.text.data() + f.text.size();
        auto [ptr, ec] = std::from_chars(first, last, value);
        if (ec == std::errc::result_out_of_range)
            return error(line_, f.column, "{} '{}' is out of range", what, printable(f.text));
        if (ec != std::errc() || ptr != last)
            return error(line_, f.column, "expected {}, got '{}'", what, printable(f.text));
        return value;
    }

    Expected<std::vector<std::int64_t>> parseIntList(Field f, std::string_view what,
                                                     Sign sign) const {
        std::vector<std::int64_t> values;
        if (trim(f).text.empty())
            return values;
        for (const Field& item : splitPlain(f, ',')) {
            auto v = parseInt(item, what, sign);
            if (!v)
                return std::unexpected(v.error());
            values.push_back(*v);
        }
        return values;
    }

    // Reads a token up to whitespace or one of `stops`.
    static Field token(Field rest, std::string_view stops) {
        std::size_t i = 0;
        while (i < rest.text.size() && !isSpace(rest.text[i]) &&
               stops.find(rest.text[i]) == std::string_view::npos)
            ++i;
        return {rest.text.substr(0, i), rest.column};
    }
    static Field advance(Field f, std::size_t n) {
        n = std::min(n, f.text.size());
        return {f.text.substr(n), toU32(f.column + n)};
    }
    static Field skipSpaces(Field f) {
        std::size_t i = 0;
        while (i < f.text.size() && isSpace(f.text[i]))
            ++i;
        return advance(f, i);
    }
    std::uint32_t endColumn(Field f) const { return toU32(f.column + f.text.size()); }

    Expected<void> expectEnd(Field rest, std::string_view keyword) const {
        rest = skipSpaces(rest);
        if (!rest.text.empty())
            return error(line_, rest.column, "unexpected text after '{}': '{}'", keyword,
                         printable(rest.text));
        return {};
    }

    Expected<void> parseLine(std::string_view text) {
        Field line = skipSpaces(Field{text, 1});
        if (line.text.empty())
            return {};
        const bool first = !sawContent_;
        sawContent_ = true;
        lastContentLine_ = line_;
        if (line.text.starts_with(kHeader)) {
            if (!first)
                return error(line_, line.column,
                             "'Domain Flow Graph:' header must be the first line");
            file_.name = std::string(trim(line.text.substr(kHeader.size())));
            return {};
        }
        std::size_t n = 0;
        while (n < line.text.size() &&
               (isAlpha(line.text[n]) || isDigit(line.text[n]) || line.text[n] == '_'))
            ++n;
        const std::string_view keyword = line.text.substr(0, n);
        Field rest = advance(line, n);
        const bool colonKeyword = keyword == "SOURCE" || keyword == "SINK";
        if (n == 0 || (!rest.text.empty() && !isSpace(rest.text[0]) &&
                       !(colonKeyword && rest.text[0] == ':'))) {
            const Field word = token(line, "");
            return error(line_, line.column, "unknown keyword '{}'", printable(word.text));
        }
        if (keyword == "DIRECTED")
            return expectEnd(rest, keyword);
        if (keyword == "RUNNING_NODE_ID") {
            rest = skipSpaces(rest);
            const Field value = token(rest, "");
            if (auto v = parseInt(value, "running node id", Sign::NonNegative); !v)
                return std::unexpected(v.error());
            return expectEnd(advance(rest, value.text.size()), keyword);
        }
        if (keyword == "NODES")
            return parseCount(rest, keyword, nodesLine_, declaredNodes_);
        if (keyword == "EDGES")
            return parseCount(rest, keyword, edgesLine_, declaredEdges_);
        if (keyword == "ADJACENCY")
            return parseCount(rest, keyword, adjacencyLine_, declaredAdjacency_);
        if (keyword == "NODE")
            return parseNode(line.column, rest);
        if (keyword == "EDGE")
            return parseEdge(line.column, rest);
        if (keyword == "ADJ")
            return parseAdj(rest);
        if (keyword == "SOURCE")
            return parseIdList(rest, keyword, file_.sources, file_.hasSources);
        if (keyword == "SINK") {
            file_.sinksLoc = loc(line.column);
            return parseIdList(rest, keyword, file_.sinks, file_.hasSinks);
        }
        return error(line_, line.column, "unknown keyword '{}'", printable(keyword));
    }

    Expected<void> parseCount(Field rest, std::string_view keyword, std::uint32_t& seenLine,
                              std::int64_t& count) {
        if (seenLine != 0)
            return error(line_, 1, "duplicate '{}' line (first on line {})", keyword, seenLine);
        rest = skipSpaces(rest);
        const Field t = token(rest, "");
        auto v = parseInt(t, fmt::format("'{}' count", keyword), Sign::NonNegative);
        if (!v)
            return std::unexpected(v.error());
        seenLine = line_;
        count = *v;
        return expectEnd(advance(rest, t.text.size()), keyword);
    }

    Expected<void> parseIdList(Field rest, std::string_view keyword, std::vector<std::int64_t>& ids,
                               bool& seen) {
        if (seen)
            return error(line_, 1, "duplicate '{}:' line", keyword);
        rest = skipSpaces(rest);
        if (rest.text.empty() || rest.text[0] != ':')
            return error(line_, rest.column, "expected ':' after '{}'", keyword);
        auto v = parseIntList(advance(rest, 1), "node id", Sign::NonNegative);
        if (!v)
            return std::unexpected(v.error());
        ids = std::move(*v);
        seen = true;
        return {};
    }

    Expected<void> parseAdj(Field rest) {
        rest = skipSpaces(rest);
        const Field id = token(rest, ":");
        if (auto v = parseInt(id, "node id", Sign::NonNegative); !v)
            return std::unexpected(v.error());
        rest = skipSpaces(advance(rest, id.text.size()));
        if (rest.text.empty() || rest.text[0] != ':')
            return error(line_, rest.column, "expected ':' after the node id");
        if (auto v = parseIntList(advance(rest, 1), "node id", Sign::NonNegative); !v)
            return std::unexpected(v.error());
        ++adjLines_;
        return {};
    }

    // A slot-indexed list ("0:x,1:y" or "x,y"): places each item at its slot.
    template <class T, class Make>
    Expected<std::vector<T>> placeBySlot(const std::vector<Field>& items, std::string_view what,
                                         Make make) const {
        std::vector<T> out(items.size());
        std::vector<bool> filled(items.size(), false);
        for (std::size_t position = 0; position < items.size(); ++position) {
            Field item = trim(items[position]);
            const std::uint32_t itemColumn = item.column;
            std::size_t slot = position;
            if (const std::size_t prefix = slotPrefixLength(item.text); prefix != 0) {
                auto v = parseInt(Field{item.text.substr(0, prefix - 1), item.column},
                                  "slot number", Sign::NonNegative);
                if (!v)
                    return std::unexpected(v.error());
                if (*v >= static_cast<std::int64_t>(items.size()))
                    return error(line_, item.column,
                                 "{} slot {} is out of range for a list of {} items", what, *v,
                                 items.size());
                slot = static_cast<std::size_t>(*v);
                item = trim(advance(item, prefix));
            }
            if (filled[slot])
                return error(line_, itemColumn, "duplicate {} slot {}", what, slot);
            filled[slot] = true;
            out[slot] = make(item);
        }
        return out;
    }

    Expected<std::vector<TypeText>> parseTypeList(Field f, std::string_view what) const {
        if (trim(f).text.empty())
            return std::vector<TypeText>{};
        std::vector<Field> items = splitNested(f, true);
        for (const Field& item : items)
            if (trim(item).text.empty())
                return error(line_, trim(item).column, "empty {} in list", what);
        return placeBySlot<TypeText>(items, what, [&](Field item) {
            if (item.text.empty())
                return TypeText{};
            TypeText t = parseType(item.text);
            t.loc = loc(item.column);
            return t;
        });
    }

    Expected<std::vector<std::string>> parseNameList(Field f) const {
        if (trim(f).text.empty())
            return std::vector<std::string>{};
        std::vector<Field> items = splitPlain(f, ',');
        for (const Field& item : items)
            if (trim(item).text.empty())
                return error(line_, trim(item).column, "empty result name in list");
        return placeBySlot<std::string>(items, "result",
                                        [](Field item) { return std::string(item.text); });
    }

    Expected<std::vector<Attribute>> parseAttributes(Field f) const {
        std::vector<Attribute> attrs;
        if (trim(f).text.empty())
            return attrs;
        for (Field item : splitNested(f, false)) {
            item = trim(item);
            if (item.text.empty())
                return error(line_, item.column, "empty attribute in list");
            const std::size_t colon = item.text.find(':');
            if (colon == std::string_view::npos)
                return error(line_, item.column, "expected 'key:value' attribute, got '{}'",
                             printable(item.text));
            const std::string_view key = trim(item.text.substr(0, colon));
            if (key.empty())
                return error(line_, item.column, "attribute without a key");
            attrs.push_back({std::string(key), std::string(trim(item.text.substr(colon + 1)))});
        }
        return attrs;
    }

    // "<id> :" -> the id; `rest` is advanced past the ':'.
    Expected<std::int64_t> parseIdColon(Field& rest, SourceLoc& idLoc,
                                        std::string_view keyword) const {
        rest = skipSpaces(rest);
        const Field id = token(rest, ":");
        idLoc = loc(id.column);
        if (id.text.empty())
            return error(line_, id.column, "expected a node id after '{}'", keyword);
        auto v = parseInt(id, "node id", Sign::NonNegative);
        if (!v)
            return std::unexpected(v.error());
        rest = skipSpaces(advance(rest, id.text.size()));
        if (rest.text.empty() || rest.text[0] != ':')
            return error(line_, rest.column, "expected ':' after the node id");
        rest = skipSpaces(advance(rest, 1));
        return v;
    }

    Expected<void> parseNode(std::uint32_t keywordColumn, Field rest) {
        Node node;
        node.loc = loc(keywordColumn);
        auto id = parseIdColon(rest, node.idLoc, "NODE");
        if (!id)
            return std::unexpected(id.error());
        node.id = *id;
        if (auto it = nodeLines_.find(node.id); it != nodeLines_.end())
            return error(line_, node.idLoc.column,
                         "duplicate node id {} (first defined on line {})", node.id, it->second);
        Field body = rest;
        if (!body.text.empty() && body.text[0] == '|')
            body = advance(body, 1);
        // Trailing whitespace belongs to no field.
        while (!body.text.empty() && isSpace(body.text.back()))
            body.text.remove_suffix(1);
        const std::vector<Field> fields = splitPlain(body, '|');
        if (fields.size() < 6)
            return error(line_, endColumn(body),
                         "too few fields in NODE (got {}, expected 7 '|'-separated fields)",
                         fields.size());
        if (fields.size() > 7)
            return error(line_, fields[7].column - 1,
                         "too many fields in NODE (got {}, expected 7 '|'-separated fields)",
                         fields.size());
        const bool withAttributes = fields.size() == 7;
        node.hasAttributeField = withAttributes;
        const Field name = trim(fields[0]);
        node.name = std::string(name.text);
        node.nameLoc = loc(name.column);
        const Field op = trim(fields[1]);
        if (op.text.empty())
            return error(line_, op.column, "missing operator name");
        for (char c : op.text)
            if (!isAlpha(c) && !isDigit(c) && c != '_' && c != '.')
                return error(line_, op.column, "invalid operator name '{}'", printable(op.text));
        node.op = std::string(op.text);
        auto depth = parseInt(fields[2], "node depth", Sign::Any);
        if (!depth)
            return std::unexpected(depth.error());
        node.depth = *depth;
        auto operands = parseTypeList(fields[3], "operand");
        if (!operands)
            return std::unexpected(operands.error());
        node.operandTypes = std::move(*operands);
        std::size_t next = 4;
        if (withAttributes) {
            auto attrs = parseAttributes(fields[next++]);
            if (!attrs)
                return std::unexpected(attrs.error());
            node.attributes = std::move(*attrs);
        }
        auto names = parseNameList(fields[next++]);
        if (!names)
            return std::unexpected(names.error());
        node.resultNames = std::move(*names);
        auto types = parseTypeList(fields[next], "result");
        if (!types)
            return std::unexpected(types.error());
        node.resultTypes = std::move(*types);
        nodeLines_.emplace(node.id, line_);
        file_.nodes.push_back(std::move(node));
        return {};
    }

    Expected<std::int64_t> parseSlot(Field f, std::string_view what) const {
        auto v = parseInt(f, what, Sign::NonNegative);
        if (!v)
            return v;
        if (*v > kMaxSlot)
            return error(line_, trim(f).column, "{} {} is out of range (at most {})", what, *v,
                         kMaxSlot);
        return v;
    }

    Expected<void> parseEdge(std::uint32_t keywordColumn, Field rest) {
        Edge edge;
        edge.loc = loc(keywordColumn);
        rest = skipSpaces(rest);
        const Field src = token(rest, "-:");
        edge.srcLoc = loc(src.column);
        if (src.text.empty())
            return error(line_, src.column, "expected a source node id after 'EDGE'");
        auto srcId = parseInt(src, "node id", Sign::NonNegative);
        if (!srcId)
            return std::unexpected(srcId.error());
        edge.src = *srcId;
        rest = skipSpaces(advance(rest, src.text.size()));
        if (!rest.text.starts_with("->"))
            return error(line_, rest.column, "expected '->' after the source node id");
        rest = skipSpaces(advance(rest, 2));
        auto dstId = parseIdColon(rest, edge.dstLoc, "->");
        if (!dstId)
            return std::unexpected(dstId.error());
        edge.dst = *dstId;
        Field body = rest;
        while (!body.text.empty() && isSpace(body.text.back()))
            body.text.remove_suffix(1);
        const std::vector<Field> fields = splitPlain(body, '|');
        if (fields.size() < 5)
            return error(line_, endColumn(body),
                         "too few fields in EDGE (got {}, expected 7 '|'-separated fields)",
                         fields.size());
        if (fields.size() == 6 || fields.size() > 7) {
            const std::size_t bad = fields.size() == 6 ? 5 : 7;
            return error(line_, fields[bad].column - 1,
                         "wrong number of fields in EDGE (got {}, expected 7 or 5)", fields.size());
        }
        auto flow = parseInt(fields[0], "flow", Sign::Any);
        if (!flow)
            return std::unexpected(flow.error());
        edge.flow = *flow;
        const Field stationary = trim(fields[1]);
        if (stationary.text == "true" || stationary.text == "1")
            edge.stationary = true;
        else if (stationary.text == "false" || stationary.text == "0")
            edge.stationary = false;
        else
            return error(line_, stationary.column, "expected 'true' or 'false', got '{}'",
                         printable(stationary.text));
        const Field shape = trim(fields[2]);
        edge.shape = parseType(shape.text);
        edge.shape.loc = loc(shape.column);
        auto bits = parseInt(fields[3], "scalar bit width", Sign::NonNegative);
        if (!bits)
            return std::unexpected(bits.error());
        edge.scalarBits = *bits;
        std::size_t tau = 4;
        if (fields.size() == 7) {
            auto srcSlot = parseSlot(fields[4], "source slot");
            if (!srcSlot)
                return std::unexpected(srcSlot.error());
            auto dstSlot = parseSlot(fields[5], "destination slot");
            if (!dstSlot)
                return std::unexpected(dstSlot.error());
            edge.srcSlot = *srcSlot;
            edge.dstSlot = *dstSlot;
            edge.srcSlotLoc = loc(trim(fields[4]).column);
            edge.dstSlotLoc = loc(trim(fields[5]).column);
            tau = 6;
        } else {
            edge.srcSlotLoc = edge.srcLoc;
            edge.dstSlotLoc = edge.dstLoc;
        }
        auto schedule = parseIntList(fields[tau], "schedule component", Sign::Any);
        if (!schedule)
            return std::unexpected(schedule.error());
        edge.schedule = std::move(*schedule);
        file_.edges.push_back(std::move(edge));
        return {};
    }

    std::string_view text_;
    std::string_view fileName_;
    File file_;
    std::uint32_t line_ = 0;
    bool sawContent_ = false;
    std::uint32_t lastContentLine_ = 1;
    std::uint32_t nodesLine_ = 0, edgesLine_ = 0, adjacencyLine_ = 0;
    std::int64_t declaredNodes_ = 0, declaredEdges_ = 0, declaredAdjacency_ = 0;
    std::size_t adjLines_ = 0;
    std::unordered_map<std::int64_t, std::uint32_t> nodeLines_;
};

bool isDim(std::string_view s) {
    if (s == "?")
        return true;
    if (s.empty())
        return false;
    for (char c : s)
        if (!isDigit(c))
            return false;
    return true;
}

} // namespace

TypeText parseType(std::string_view text) {
    TypeText type;
    std::string_view s = trim(text);
    type.text = std::string(s);
    std::size_t opens = 0;
    while (s.starts_with("tensor<")) {
        s.remove_prefix(7);
        s = trim(s);
        ++opens;
    }
    std::size_t closes = 0;
    while (!s.empty() && s.back() == '>' && closes < opens) {
        s.remove_suffix(1);
        s = trim(s);
        ++closes;
    }
    if (s.empty())
        return type;
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == 'x') {
            parts.push_back(trim(s.substr(start, i - start)));
            start = i + 1;
        }
    }
    std::vector<std::int64_t> dims;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::string_view part = parts[i];
        const bool last = i + 1 == parts.size();
        if (!isDim(part)) {
            if (!last)
                return type;
            const std::optional<DType> dtype = parseDType(part);
            if (!dtype)
                return type;
            type.dtype = dtype;
            break;
        }
        if (part == "?") {
            dims.push_back(-1);
            continue;
        }
        std::int64_t value = 0;
        auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (ec != std::errc() || ptr != part.data() + part.size())
            return type;
        dims.push_back(value);
    }
    type.dims = std::move(dims);
    type.parsed = true;
    return type;
}

Expected<File> parse(std::string_view text, std::string_view fileName) {
    return Parser(text, fileName).run();
}

Expected<File> parseFile(const std::string& path) {
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parse(*text, path);
}

} // namespace kpu::dfg
