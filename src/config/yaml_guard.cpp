#include "config/yaml_guard.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace bcp::config {
namespace {

// Builds nothing: only remembers where the current document starts.
class document_starts : public YAML::EventHandler {
  public:
    YAML::Mark start;

    void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

}  // namespace

std::optional<yaml_refusal> check_loadable(std::string_view text) {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    document_starts events;
    int previous = -1;
    try {
        // Every document that consumes a token starts further on than the one before; one that
        // starts where the previous one did consumed nothing and would repeat forever.
        while (parser.HandleNextDocument(events)) {
            const YAML::Mark at = events.start;
            if (at.pos != previous) {
                previous = at.pos;
                continue;
            }
            yaml_refusal r{at.line + 1, at.column + 1, {}};
            const auto pos = static_cast<std::size_t>(at.pos);
            if (pos < text.size() && text[pos] == ',') {
                r.message =
                    "a ',' outside [ ] or { } cannot start a value; quote the text that "
                    "holds it (yaml-cpp 0.7.0 would read this file forever)";
            } else {
                r.message =
                    "no YAML value can start here; check this line and the one before "
                    "(yaml-cpp 0.7.0 would read this file forever)";
            }
            return r;
        }
    } catch (const YAML::Exception&) {
        // A syntax error: the real load stops at it too and reports it.
    }
    return std::nullopt;
}

}  // namespace bcp::config
