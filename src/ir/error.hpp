// The one error type lives in the public API (include/matcalc/error.hpp):
// every module throws it, and callers of the library catch it.
#pragma once
#include "matcalc/error.hpp"
