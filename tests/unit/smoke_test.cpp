#include <gtest/gtest.h>

#include "ir/builders.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"

using namespace matcalc;

TEST(Smoke, SeedParsesAndPrints) {
  Context cx;
  auto p = compile(cx, "log(det(W*W' + s^2*I))", "");
  EXPECT_EQ(to_text(p.expr), "log(det(W*W' + s^2*I))");
  EXPECT_EQ(p.symbols.at("W")->shape.str(), "n x k");
  EXPECT_TRUE(p.symbols.at("s")->is_scalar());
}
