// matcalc's evaluator on the Hessians of issue 11's benchmark (the "eval"
// column of bench/hessian_bench.py, which runs this with
// --benchmark_filter=EvalHessian): Session::evaluate of the closed-form
// Hessian alone, derived once, at the sizes of the Python benchmark.
//   build/bench/matcalc_bench --benchmark_filter=EvalHessian
#include <benchmark/benchmark.h>

#include <string>

#include "matcalc/matcalc.hpp"

using namespace matcalc;

namespace {

// The logistic loss sum(softplus(-y .* (X*w))) at m x d, labels +-1.
void EvalHessianLogistic(benchmark::State& state) {
  const long m = state.range(0), d = state.range(1);
  Session s;
  Function f = s.load("sum(softplus(-y .* (X*w)))", "X: matrix(m,d); y: vector(m); w: vector(d)", {.scalar = true});
  Expression h = s.hessian(f, "w");
  Values v;
  v.symbols["X"] = Eigen::MatrixXd::Random(m, d);
  v.symbols["y"] = Eigen::MatrixXd::Random(m, 1).array().sign().matrix();
  v.symbols["w"] = 0.05 * Eigen::MatrixXd::Random(d, 1);
  for (auto _ : state) benchmark::DoNotOptimize(s.evaluate({h}, v));
  state.SetLabel(h.text());
}
BENCHMARK(EvalHessianLogistic)->Args({5000, 100})->Args({5000, 500})->Args({5000, 1000})->Unit(benchmark::kMillisecond);

// x'*A*x + sum(exp(x)) at d.
void EvalHessianQuadraticExp(benchmark::State& state) {
  const long d = state.range(0);
  Session s;
  Function f = s.load("x'*A*x + sum(exp(x))", "x: vector(n); A: matrix(n,n)", {.scalar = true});
  Expression h = s.hessian(f, "x");
  Values v;
  v.symbols["A"] = Eigen::MatrixXd::Random(d, d);
  v.symbols["x"] = 0.1 * Eigen::MatrixXd::Random(d, 1);
  for (auto _ : state) benchmark::DoNotOptimize(s.evaluate({h}, v));
  state.SetLabel(h.text());
}
BENCHMARK(EvalHessianQuadraticExp)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
