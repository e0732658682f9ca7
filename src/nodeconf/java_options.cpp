#include "nodeconf/java_options.hpp"

#include "nodeconf/text.hpp"

#include <algorithm>
#include <vector>

namespace bcp::nodeconf::java_options {
namespace {

// "-Dgrails.cors.enabled=true" → "-Dgrails.cors.enabled"; other options are their own name.
std::string name_of(std::string_view option) {
    const auto eq = option.find('=');
    return text::starts_with(option, "-D") && eq != std::string_view::npos
               ? std::string(option.substr(0, eq))
               : std::string(option);
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        out += (out.empty() ? "" : " ") + w;
    }
    return out;
}

}  // namespace

std::string merge(std::string_view current, std::string_view wanted) {
    if (contains(current, wanted)) {
        return std::string(current);
    }
    auto words = text::words(current);
    for (const auto& w : text::words(wanted)) {
        // Every occurrence is replaced: the JVM uses the last one, and leaving an older value
        // behind it would make the merge a no-op (found by the java_options fuzzer).
        bool found = false;
        for (auto& have : words) {
            if (name_of(have) == name_of(w)) {
                have = w;
                found = true;
            }
        }
        if (!found) {
            words.push_back(w);
        }
    }
    return join(words);
}

std::string remove(std::string_view current, std::string_view unwanted) {
    auto words = text::words(current);
    const auto drop = text::words(unwanted);
    std::erase_if(words, [&](const std::string& have) {
        return std::any_of(drop.begin(), drop.end(),
                           [&](const std::string& d) { return name_of(d) == name_of(have); });
    });
    return join(words);
}

bool contains(std::string_view current, std::string_view wanted) {
    const auto have = text::words(current);
    for (const auto& w : text::words(wanted)) {
        // The last occurrence is the one the JVM uses.
        auto it = std::find_if(have.rbegin(), have.rend(),
                               [&](const std::string& h) { return name_of(h) == name_of(w); });
        if (it == have.rend() || *it != w) {
            return false;
        }
    }
    return true;
}

}  // namespace bcp::nodeconf::java_options
