#include "observe/prometheus.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace bcp::observe {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string format_value(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    // Whole numbers below 2^53 print without exponent or fraction ("12", not "12.0" or "1.2e1").
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
        return fmt::format("{}", static_cast<std::int64_t>(v));
    }
    return fmt::format("{}", v);
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void exposition::series(std::string_view name, std::initializer_list<label> labels,
                        const label* extra) {
    out_ += name;
    if (labels.size() == 0 && extra == nullptr) {
        out_ += ' ';
        return;
    }
    out_ += '{';
    bool first = true;
    const auto put = [&](const label& l) {
        if (!first) {
            out_ += ',';
        }
        first = false;
        out_ += l.name;
        out_ += "=\"";
        out_ += escape_label_value(l.value);
        out_ += '"';
    };
    for (const auto& l : labels) {
        put(l);
    }
    if (extra != nullptr) {
        put(*extra);
    }
    out_ += "} ";
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels,
                        std::uint64_t value) {
    series(name, labels);
    out_ += fmt::format("{}\n", value);
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels,
                        std::int64_t value) {
    series(name, labels);
    out_ += fmt::format("{}\n", value);
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, double value) {
    series(name, labels);
    out_ += format_value(value);
    out_ += '\n';
}

void exposition::histogram(std::string_view name, std::initializer_list<label> labels,
                           const histogram_totals& h) {
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        const std::string le =
            i < latency_buckets.size() ? format_value(latency_buckets[i]) : std::string("+Inf");
        const label extra{"le", le};
        series(bucket, labels, &extra);
        out_ += fmt::format("{}\n", cumulative);
    }
    series(std::string(name) + "_sum", labels);
    out_ += format_value(h.sum_seconds);
    out_ += '\n';
    series(std::string(name) + "_count", labels);
    out_ += fmt::format("{}\n", h.count);
}

}  // namespace bcp::observe
