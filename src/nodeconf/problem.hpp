#pragma once
// Errors of the node configurator as values. Every editor and every pipeline step reports what
// went wrong in operator words, with the file and (when known) the line, so `node plan|apply|check`
// can print it and exit non-zero without having written anything (DESIGN.md §5.3).

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bcp::nodeconf {

struct problem {
    std::string file;  ///< node path ("/etc/bigbluebutton/bbb-web.properties"); empty if none
    int line = 0;      ///< 1-based; 0 = not tied to a line
    std::string message;

    /// "file:line: message", "file: message" or "message".
    std::string to_string() const {
        std::string out = file;
        if (!out.empty() && line > 0) {
            out += ':' + std::to_string(line);
        }
        return out.empty() ? message : out + ": " + message;
    }
};

/// A value or a problem (std::expected arrives with C++23; this is the small subset we need).
template <class T>
class expected {
  public:
    expected(T value) : v_(std::move(value)) {}
    expected(problem p) : v_(std::move(p)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const problem& error() const { return std::get<1>(v_); }
    /// The error with the file name filled in (editors do not know which file they edit).
    problem error_in(const std::string& file) const {
        problem p = error();
        if (p.file.empty()) {
            p.file = file;
        }
        return p;
    }

  private:
    std::variant<T, problem> v_;
};

inline problem make_problem(int line, std::string message) {
    return problem{{}, line, std::move(message)};
}

}  // namespace bcp::nodeconf
