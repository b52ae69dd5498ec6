// prop_runner: the property tests of tests/prop from the command line.
//   prop_runner --seed S --count N [--depth D] [--extreme P] [--jobs J] [--case I] [--no-shrink] [--list]
// (--list prints every case's expression and outcome; --extreme sets the
// probability of an extreme draw, GenOptions::extreme, default 0.08)
// Runs cases 0..N-1 of seed S (or only case I), prints every failure shrunk
// to a minimal case, and ends with how many passing cases hit a known
// failure (properties.hpp), how many skipped a second-order property and
// why, the failures by property (when there are any)
// and what inference made of the cases without their declarations (the
// inference property), and the line "N passed, M failed". Exit status 1 when anything failed,
// 2 on bad arguments.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "properties.hpp"

using namespace matcalc::prop;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "prop_runner: " << why
            << "\nusage: prop_runner --seed S --count N [--depth D] [--extreme P] [--jobs J] [--case I] [--no-shrink] "
               "[--list]\n";
  std::exit(2);
}

std::uint64_t number(const std::string& opt, const char* v) {
  if (!v) usage(opt + " needs a value");
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 10);
  if (!*v || *end) usage(opt + ": '" + v + "' is not a non-negative integer");
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1, count = 1000, first = 0;
  GenOptions opt;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  bool shrink_failures = true, one = false, list = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--seed") seed = number(a, v), ++i;
    else if (a == "--count") count = number(a, v), ++i;
    else if (a == "--depth") opt.depth = static_cast<int>(number(a, v)), ++i;
    else if (a == "--extreme") {
      if (!v) usage(a + " needs a value");
      char* end = nullptr;
      opt.extreme = std::strtod(v, &end);
      if (!*v || *end || !(opt.extreme >= 0 && opt.extreme <= 1)) usage("--extreme must be a probability in [0, 1]");
      ++i;
    } else if (a == "--jobs")
      jobs = static_cast<unsigned>(std::max<std::uint64_t>(1, number(a, v))), ++i;
    else if (a == "--case") first = number(a, v), one = true, ++i;
    else if (a == "--no-shrink") shrink_failures = false;
    else if (a == "--list") list = true;
    else usage("unknown argument '" + a + "'");
  }
  if (opt.depth < 1 || opt.depth > 8) usage("--depth must be between 1 and 8");
  if (one) count = 1;

  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> next{0}, passed{0}, failed{0}, discarded{0}, exhausted{0};
  std::mutex out;
  std::map<std::string, int> failed_by;  // property -> failing cases (under `out`)
  std::map<std::string, int> known;      // known failure -> passing cases that hit it (under `out`)
  std::map<std::string, int> skipped;    // why a second-order property was skipped -> cases (under `out`)
  std::map<std::string, int> inferred;   // what inference without declarations gave -> cases (under `out`)
  std::map<std::string, int> extremes;   // kind of extreme draw -> cases (under `out`)
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < jobs; ++w) {
    workers.emplace_back([&] {
      for (std::uint64_t k; (k = next++) < count;) {
        const std::uint64_t index = first + k;
        Result r = run_index(seed, index, opt);
        if (list) {
          std::lock_guard<std::mutex> lock(out);
          std::cout << index << " " << property_name(r.outcome.property) << " "
                    << (r.outcome.status == Outcome::Status::Pass   ? "pass"
                        : r.outcome.status == Outcome::Status::Fail ? "FAIL"
                                                                    : "discard")
                    << " nodes=" << node_count(*r.c.f) << " draws=" << r.draws
                    << (r.outcome.inference.empty() ? "" : " inferred=[" + r.outcome.inference + "]") << ": "
                    << render(*r.c.f) << (r.outcome.detail.empty() ? "" : "\n    " + r.outcome.detail) << "\n";
        }
        discarded += static_cast<std::uint64_t>(r.draws - 1);
        if (r.c.extreme != Extreme::None) {
          std::lock_guard<std::mutex> lock(out);
          ++extremes[extreme_name(r.c.extreme)];
        }
        if (r.outcome.status == Outcome::Status::Pass) {
          ++passed;
          std::lock_guard<std::mutex> lock(out);
          if (!r.outcome.known.empty()) ++known[r.outcome.known];
          if (!r.outcome.skipped.empty()) ++skipped[r.outcome.skipped];
          if (!r.outcome.inference.empty()) ++inferred[r.outcome.inference];
          continue;
        }
        if (r.outcome.status == Outcome::Status::Discard) {
          ++exhausted;
          continue;
        }
        ++failed;
        Case c = r.c;
        Outcome o = r.outcome;
        if (shrink_failures) {
          c = shrink(r.c, o.property);
          Outcome again = check_case(c, o.property);
          if (again.status == Outcome::Status::Fail) o = again;
        }
        std::string text = report(c, o, seed, index);
        std::lock_guard<std::mutex> lock(out);
        ++failed_by[property_name(r.outcome.property)];
        std::cout << text << std::flush;
      }
    });
  }
  for (auto& t : workers) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "seed " << seed << ", depth " << opt.depth << ", " << jobs << " jobs, " << secs << " s; "
            << discarded << " draws discarded by the screening";
  if (exhausted) std::cout << ", " << exhausted << " cases without an admissible draw (counted as passed)";
  std::cout << "\n";
  if (!extremes.empty()) {
    std::cout << "extreme draws:";
    const char* sep = " ";
    for (const auto& [what, n] : extremes) std::cout << sep << n << " " << what, sep = ", ";
    std::cout << "\n";
  }
  for (const auto& [what, n] : known) std::cout << n << " cases hit the known failure '" << what << "'\n";
  for (const auto& [why, n] : skipped) std::cout << n << " cases skipped a property: " << why << "\n";
  if (!inferred.empty()) {
    std::cout << "inference without declarations:";
    const char* sep = " ";
    for (const auto& [what, n] : inferred) std::cout << sep << n << " " << what, sep = ", ";
    std::cout << "\n";
  }
  if (!failed_by.empty()) {
    std::cout << "failed by property:";
    for (const auto& [p, n] : failed_by) std::cout << " " << p << " " << n;
    std::cout << "\n";
  }
  std::cout << (passed + exhausted) << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}
