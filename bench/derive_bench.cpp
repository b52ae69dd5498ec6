// Speed of the symbolic pipeline (parse + infer + simplify + differentiate +
// simplify + print), one benchmark per expression, each from a fresh
// Context; and evaluation of the seed gradient at growing sizes.
//   build/bench/matcalc_bench --benchmark_filter=Derive
#include <benchmark/benchmark.h>

#include "diff/gradient.hpp"
#include "eval/evaluate.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"

using namespace matcalc;

namespace {

struct Case {
  const char* expr;
  const char* wrt;
  const char* decl;
};

const Case kCases[] = {
    {"log(det(W*W' + s^2*I))", "W", ""},
    {"log(det(W*W' + s^2*I))", "s", ""},
    {"tr(Y'*(W*W' + s^2*I)*Y)", "W", ""},
    {"N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)", "W", "S: symmetric(n)"},
    {"norm2(A*x - b)^2", "x", ""},
    {"sum(softplus(-y .* (X*w)))", "w", ""},
    {"x'*A*x", "x", ""},
    {"tr(X^3)", "X", ""},
    {"logdet(X'*A*X)", "X", ""},
    {"-y'*log(softmax(W*x))", "W", ""},
};

void Derive(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  for (auto _ : state) {
    Context cx;
    TypedProgram p = compile(cx, c.expr, c.decl, {.want_scalar = true});
    Expr f = simplify(p.expr);
    Expr g = gradient(f, p.symbols.at(c.wrt));
    benchmark::DoNotOptimize(to_text(g));
  }
  state.SetLabel(std::string(c.expr) + "  d/d" + c.wrt);
}
BENCHMARK(Derive)->DenseRange(0, std::size(kCases) - 1)->Unit(benchmark::kMicrosecond);

void EvalSeedGradient(benchmark::State& state) {
  const long n = state.range(0), k = state.range(1);
  Context cx;
  TypedProgram p = compile(cx, "log(det(W*W' + s^2*I))", "W: matrix(n,k); s: scalar", {.want_scalar = true});
  Expr g = gradient(simplify(p.expr), p.symbols.at("W"));
  Bindings b;
  b.dims = {{"n", n}, {"k", k}};
  b.values["W"] = Matrix::Random(n, k);
  b.values["s"] = Matrix::Constant(1, 1, 0.7);
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(g, b));
  state.SetLabel("2*inv(W*W' + s^2*I)*W");
}
BENCHMARK(EvalSeedGradient)->Args({50, 5})->Args({200, 10})->Args({500, 20})->Unit(benchmark::kMicrosecond);

}  // namespace
