// libFuzzer driver: one executable per target, the target's name compiled in (BCP_FUZZ_TARGET).
#include "entries/entries.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bcp::fuzz::target* const t = [] {
        const auto* found = bcp::fuzz::find_target(BCP_FUZZ_TARGET);
        if (found == nullptr) {
            std::fprintf(stderr, "unknown fuzz target %s\n", BCP_FUZZ_TARGET);
            std::abort();
        }
        return found;
    }();
    t->run(data, size);
    return 0;
}
