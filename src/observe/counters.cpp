#include "observe/counters.hpp"
