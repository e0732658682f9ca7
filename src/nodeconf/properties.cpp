#include "nodeconf/properties.hpp"

#include "nodeconf/text.hpp"

namespace bcp::nodeconf::properties {
namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\f';
}

// A physical line continues the logical line when it ends in an odd number of backslashes.
bool continues(std::string_view body) {
    std::size_t n = 0;
    while (n < body.size() && body[body.size() - 1 - n] == '\\') {
        ++n;
    }
    return n % 2 == 1;
}

void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Decodes one escape starting after the backslash at s[i]; returns the index after it.
std::size_t decode_escape(std::string_view s, std::size_t i, std::string& out) {
    if (i >= s.size()) {
        return i;  // a lone trailing backslash is dropped, as Java does
    }
    const char c = s[i];
    switch (c) {
        case 't':
            out += '\t';
            return i + 1;
        case 'n':
            out += '\n';
            return i + 1;
        case 'r':
            out += '\r';
            return i + 1;
        case 'f':
            out += '\f';
            return i + 1;
        case 'u': {
            if (i + 5 <= s.size()) {
                unsigned cp = 0;
                bool ok = true;
                for (std::size_t k = i + 1; k < i + 5; ++k) {
                    const char h = s[k];
                    cp <<= 4;
                    if (h >= '0' && h <= '9') {
                        cp |= static_cast<unsigned>(h - '0');
                    } else if (h >= 'a' && h <= 'f') {
                        cp |= static_cast<unsigned>(h - 'a' + 10);
                    } else if (h >= 'A' && h <= 'F') {
                        cp |= static_cast<unsigned>(h - 'A' + 10);
                    } else {
                        ok = false;
                    }
                }
                if (ok) {
                    append_utf8(out, cp);
                    return i + 5;
                }
            }
            out += 'u';  // malformed \u: keep the letter rather than fail a whole file
            return i + 1;
        }
        default:
            out += c;
            return i + 1;
    }
}

// Splits a logical line (continuations already joined) into key and value, and reports where
// the value starts so the caller can map it back to the first physical line.
struct split_pair {
    std::string key;
    std::string value;
    std::size_t value_start = 0;
};

split_pair split_logical(std::string_view s) {
    split_pair out;
    std::size_t i = 0;
    while (i < s.size() && is_ws(s[i])) {
        ++i;
    }
    while (i < s.size()) {
        const char c = s[i];
        if (c == '\\') {
            i = decode_escape(s, i + 1, out.key);
            continue;
        }
        if (c == '=' || c == ':' || is_ws(c)) {
            break;
        }
        out.key += c;
        ++i;
    }
    while (i < s.size() && is_ws(s[i])) {
        ++i;
    }
    if (i < s.size() && (s[i] == '=' || s[i] == ':')) {
        ++i;
        while (i < s.size() && is_ws(s[i])) {
            ++i;
        }
    }
    out.value_start = i;
    while (i < s.size()) {
        if (s[i] == '\\') {
            i = decode_escape(s, i + 1, out.value);
        } else {
            out.value += s[i++];
        }
    }
    return out;
}

}  // namespace

document parse(std::string_view input) {
    document doc;
    const auto lines = text::split(input);
    for (std::size_t i = 0; i < lines.size();) {
        entry e;
        e.line = static_cast<int>(i) + 1;
        const std::string_view first = lines[i].body;
        const std::string_view stripped = text::trim_left(first);
        if (stripped.empty() || stripped.front() == '#' || stripped.front() == '!') {
            e.raw = lines[i].body + lines[i].eol;
            e.eol = lines[i].eol;
            doc.entries.push_back(std::move(e));
            ++i;
            continue;
        }
        // Join continuation lines: drop the trailing backslash, and the leading whitespace of
        // each continuation line (java.util.Properties semantics).
        std::string logical;
        std::size_t first_len = 0;
        bool first_line = true;
        for (;;) {
            std::string_view body = lines[i].body;
            e.raw += lines[i].body + lines[i].eol;
            e.eol = lines[i].eol;
            if (!first_line) {
                body = text::trim_left(body);
            }
            const bool more = continues(body) && i + 1 < lines.size();
            if (continues(body)) {
                body.remove_suffix(1);
            }
            logical += body;
            if (first_line) {
                first_len = body.size();
                first_line = false;
            }
            ++i;
            if (!more) {
                break;
            }
        }
        auto pair = split_logical(logical);
        e.is_pair = true;
        e.key = std::move(pair.key);
        e.value = std::move(pair.value);
        if (pair.value_start <= first_len) {
            e.prefix_raw = std::string(first.substr(0, pair.value_start));
        }
        doc.entries.push_back(std::move(e));
    }
    return doc;
}

std::string emit(const document& doc) {
    std::string out;
    for (const auto& e : doc.entries) {
        out += e.raw;
    }
    return out;
}

std::optional<std::string> get(const document& doc, std::string_view key) {
    std::optional<std::string> found;
    for (const auto& e : doc.entries) {
        if (e.is_pair && e.key == key) {
            found = e.value;
        }
    }
    return found;
}

std::string escape_value(std::string_view value) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case ' ':
                out += i == 0 ? "\\ " : " ";  // a leading space would be eaten as separator
                break;
            case '=':
            case ':':
                // After a whitespace separator ("key value") a leading '=' or ':' would be
                // read as the separator.
                out += i == 0 ? "\\" + std::string(1, c) : std::string(1, c);
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

std::string escape_key(std::string_view key) {
    std::string out;
    for (const char c : key) {
        if (c == '=' || c == ':' || c == ' ' || c == '\\' || c == '#' || c == '!') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

}  // namespace

void set(document& doc, std::string_view key, std::string_view value) {
    entry* last = nullptr;
    for (auto& e : doc.entries) {
        if (e.is_pair && e.key == key) {
            last = &e;
        }
    }
    if (last != nullptr) {
        if (last->value == value) {
            return;
        }
        std::string prefix = last->prefix_raw.value_or(escape_key(key) + "=");
        // A line holding only its key ("keyonly") has no separator to keep: without one the new
        // value would become part of the key (found by the properties fuzzer).
        if (split_logical(prefix + "x").key != key) {
            prefix += '=';
        }
        // A value that used to continue over several lines becomes one line; the terminator of
        // its last physical line is kept.
        last->raw = prefix + escape_value(value) + last->eol;
        last->value = std::string(value);
        last->prefix_raw = prefix;
        return;
    }
    std::string eol = "\n";
    for (const auto& e : doc.entries) {
        if (!e.eol.empty()) {
            eol = e.eol;
            break;
        }
    }
    if (!doc.entries.empty() && doc.entries.back().eol.empty()) {
        doc.entries.back().raw += eol;
        doc.entries.back().eol = eol;
    }
    // A last line ending in a continuation backslash would join the appended line, so the new
    // key would be read as part of the old value (found by the properties fuzzer). An empty line
    // ends that logical line and adds nothing to its value; it takes the line's own terminator
    // ("\r" then "\n" would read as one "\r\n").
    if (!doc.entries.empty() && doc.entries.back().is_pair &&
        continues(text::split(doc.entries.back().raw).back().body)) {
        doc.entries.back().raw += doc.entries.back().eol;
    }
    entry e;
    e.is_pair = true;
    e.key = std::string(key);
    e.value = std::string(value);
    e.prefix_raw = escape_key(key) + "=";
    e.raw = *e.prefix_raw + escape_value(value) + eol;
    e.eol = eol;
    e.line = doc.entries.empty() ? 1 : doc.entries.back().line + 1;
    doc.entries.push_back(std::move(e));
}

bool remove(document& doc, std::string_view key) {
    const auto before = doc.entries.size();
    std::erase_if(doc.entries, [&](const entry& e) { return e.is_pair && e.key == key; });
    return doc.entries.size() != before;
}

}  // namespace bcp::nodeconf::properties
