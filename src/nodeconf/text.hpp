#pragma once
// Line helpers shared by the editors. Lines keep their terminator ("\n", "\r\n" or none for a
// last line without one) so that joining them gives back the input byte for byte.

#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::text {

struct line {
    std::string body;  ///< without the terminator
    std::string eol;   ///< "\n", "\r\n", "\r" or "" (last line without newline)
};

/// Splits keeping terminators; join(split(x)) == x for every x.
std::vector<line> split(std::string_view text);
std::string join(const std::vector<line>& lines);

/// The terminator a new line should get: the first one used in the file, "\n" if none.
std::string dominant_eol(const std::vector<line>& lines);

/// Makes sure the last line ends with a terminator before another line is appended.
void terminate_last(std::vector<line>& lines);

/// Inserts `added` (each with its terminator) before line `at` (`lines.size()` appends). The line
/// before gets a terminator if it had none, and a last inserted line ending in a lone "\r" gets
/// "\n" instead when an empty "\n" line follows: "\r" + "\n" would re-read as one "\r\n" and
/// the empty line would be gone.
void insert(std::vector<line>& lines, std::size_t at, std::vector<line> added);

std::string_view trim(std::string_view s);
std::string_view trim_left(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);

/// Splits on ASCII whitespace, honouring no quotes.
std::vector<std::string> words(std::string_view s);

}  // namespace bcp::nodeconf::text
