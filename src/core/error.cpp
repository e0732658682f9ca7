#include "core/error.hpp"

namespace bcp {
namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "bcp"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::ok:
                return "success";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::not_found:
                return "not found";
            case errc::parse_error:
                return "parse error";
            case errc::io_error:
                return "I/O error";
            case errc::unsupported:
                return "unsupported";
            case errc::timeout:
                return "timed out";
            case errc::upstream_failed:
                return "upstream failed";
        }
        return "unknown bcp error";
    }
};

}  // namespace

const boost::system::error_category& bcp_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace bcp
