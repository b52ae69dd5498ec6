// Speed of the symbolic pipeline (parse + infer + simplify + differentiate +
// simplify + print), one benchmark per expression, each from a fresh
// Session (the library API, as every front end calls it); long sums and products (expression swell); and evaluation of
// the seed gradient at growing sizes.
//   build/bench/matcalc_bench --benchmark_filter=Derive
#include <benchmark/benchmark.h>

#include <string>

#include "matcalc/matcalc.hpp"

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
    Session s;
    Function f = s.load(c.expr, c.decl, {.scalar = true});
    benchmark::DoNotOptimize(s.gradient(f, c.wrt).text());
  }
  state.SetLabel(std::string(c.expr) + "  d/d" + c.wrt);
}
BENCHMARK(Derive)->DenseRange(0, std::size(kCases) - 1)->Unit(benchmark::kMicrosecond);

// Gradient of a long sum: log(1 + (a1'*x)^2) + ... + log(1 + (aN'*x)^2)
// w.r.t. x, N distinct vector symbols (the whole pipeline, as Derive).
std::string long_sum(long n) {
  std::string e;
  for (long i = 1; i <= n; ++i) e += (i > 1 ? " + " : "") + std::string("log(1 + (a") + std::to_string(i) + "'*x)^2)";
  return e;
}

void DeriveLongSum(benchmark::State& state) {
  const std::string e = long_sum(state.range(0));
  for (auto _ : state) {
    Session s;
    Function f = s.load(e, "x: vector(n)", {.scalar = true});
    benchmark::DoNotOptimize(s.gradient(f, "x").text());
  }
  state.SetLabel("sum of " + std::to_string(state.range(0)) + " terms log(1 + (ai'*x)^2)  d/dx");
}
BENCHMARK(DeriveLongSum)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// Gradient of a long product: a matrix chain tr(X*A1*X*A2*...*X*AN) w.r.t. X
// (N terms of 2N factors each), and a scalar product (a1'*x)*...*(aN'*x)
// w.r.t. x (N terms of N factors each).
void DeriveLongProduct(benchmark::State& state) {
  const long n = state.range(0);
  const bool matrix = state.range(1) != 0;
  std::string e = matrix ? "tr(" : "";
  for (long i = 1; i <= n; ++i) {
    std::string a = "A" + std::to_string(i);
    e += matrix ? (i > 1 ? "*X*" : "X*") + a : (i > 1 ? "*(" : "(") + std::string("a") + std::to_string(i) + "'*x)";
  }
  if (matrix) e += ")";
  const char* decl = matrix ? "X: matrix(n,n)" : "x: vector(n)";
  for (auto _ : state) {
    Session s;
    Function f = s.load(e, decl, {.scalar = true});
    benchmark::DoNotOptimize(s.gradient(f, matrix ? "X" : "x").text());
  }
  state.SetLabel(std::string(matrix ? "tr(X*A1*...*X*AN)  d/dX" : "(a1'*x)*...*(aN'*x)  d/dx") +
                 ", N = " + std::to_string(n));
}
BENCHMARK(DeriveLongProduct)
    ->Args({20, 1})->Args({100, 1})->Args({100, 0})->Args({300, 0})
    ->Unit(benchmark::kMillisecond);

void EvalSeedGradient(benchmark::State& state) {
  const long n = state.range(0), k = state.range(1);
  Session s;
  Function f = s.load("log(det(W*W' + s^2*I))", "W: matrix(n,k); s: scalar", {.scalar = true});
  Expression g = s.gradient(f, "W");
  Values v;
  v.dims = {{"n", n}, {"k", k}};
  v.symbols["W"] = Eigen::MatrixXd::Random(n, k);
  v.symbols["s"] = Eigen::MatrixXd::Constant(1, 1, 0.7);
  for (auto _ : state) benchmark::DoNotOptimize(s.evaluate({g}, v));
  state.SetLabel("2*inv(W*W' + s^2*I)*W");
}
BENCHMARK(EvalSeedGradient)->Args({50, 5})->Args({200, 10})->Args({500, 20})->Unit(benchmark::kMicrosecond);

}  // namespace
