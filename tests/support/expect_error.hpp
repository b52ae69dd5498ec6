// expect_error(f, kind, part): runs f and expects a matcalc::Error of `kind`
// whose message contains `part` (a gtest failure otherwise).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "ir/error.hpp"

namespace matcalc::testing {

template <class F>
void expect_error(F f, ErrorKind kind, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace matcalc::testing
