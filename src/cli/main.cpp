// The matcalc command line (CLI.md): grad, eval, check, explain, rules. A thin layer: it
// parses arguments with CLI11, calls the library API (include/matcalc), and
// prints. Every matcalc::Error becomes
// one message on stderr and exit status 2; `check` exits 1 when the
// symbolic and numeric gradients disagree.
#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "matcalc/matcalc.hpp"

namespace {

using namespace matcalc;

constexpr int kExitBadInput = 2;
constexpr int kExitDisagree = 1;

struct Common {
  std::string expr;
  std::string expr_file;  // --expr-file: EXPR read from a file ('-': stdin)
  std::vector<std::string> wrt;
  std::string decl;
};

Function load(Session& s, const Common& c, bool want_scalar) {
  return s.load(c.expr, c.decl, {.scalar = want_scalar, .wrt = c.wrt});
}

// ---------------------------------------------------------------- grad

int run_grad(const Common& c, const std::string& format) {
  Session s;
  Function f = load(s, c, /*want_scalar=*/true);
  if (format == "numpy" || format == "torch" || format == "eigen") {
    std::cout << s.code(f, c.wrt,
                        format == "numpy"   ? CodeTarget::NumPy
                        : format == "torch" ? CodeTarget::Torch
                                            : CodeTarget::Eigen);
    return 0;
  }
  Expression value = s.simplify(f.expression);
  std::vector<Expression> gs = s.gradients(f, c.wrt);
  const bool several = gs.size() > 1;
  if (format == "text" || format == "latex") {
    for (std::size_t i = 0; i < gs.size(); ++i) {
      if (several)
        std::cout << (format == "text" ? c.wrt[i] + ": "
                                       : "\\frac{\\partial f}{\\partial " + f.symbol(c.wrt[i]).latex() + "} = ");
      std::cout << (format == "text" ? gs[i].text() : gs[i].latex()) << "\n";
    }
    return 0;
  }
  if (format == "json") {
    nlohmann::json j;
    j["expression"] = value.text();
    j["wrt"] = c.wrt;
    for (std::size_t i = 0; i < gs.size(); ++i)
      j["gradient"][c.wrt[i]] = {
          {"text", gs[i].text()}, {"latex", gs[i].latex()}, {"tree", nlohmann::json::parse(gs[i].json())}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  throw Error(ErrorKind::Usage, "unknown --format '" + format + "' (text, latex, numpy, torch, eigen, json)");
}

// ---------------------------------------------------------------- eval

int run_eval(const Common& c, const std::string& values_path, bool json) {
  Session s;
  Function f = load(s, c, /*want_scalar=*/!c.wrt.empty());
  std::vector<Expression> roots{s.simplify(f.expression)};
  if (!c.wrt.empty()) {
    std::vector<Expression> gs = s.gradients(f, c.wrt);
    roots.insert(roots.end(), gs.begin(), gs.end());
  }
  Values values = read_values_file(f, values_path);
  std::vector<Eigen::MatrixXd> vals = s.evaluate(roots, std::move(values));

  // Keys in the order of CLI.md: value, then gradient by --wrt order.
  nlohmann::ordered_json out;
  out["value"] = nlohmann::ordered_json::parse(value_json(vals[0]));
  for (std::size_t i = 0; i < c.wrt.size(); ++i)
    out["gradient"][c.wrt[i]] = nlohmann::ordered_json::parse(value_json(vals[i + 1]));
  if (json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "value: " << out["value"].dump() << "\n";
    for (const std::string& x : c.wrt) std::cout << "gradient " << x << ": " << out["gradient"][x].dump() << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- check

std::map<std::string, std::int64_t> parse_dims(const std::string& s) {
  std::map<std::string, std::int64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::Usage, "--dims expects name=size pairs like n=5,k=3, got '" + item + "'");
    std::string name = item.substr(0, eq), val = item.substr(eq + 1);
    std::int64_t v = 0;
    try {
      std::size_t used = 0;
      v = std::stoll(val, &used);
      if (used != val.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw Error(ErrorKind::Usage, "--dims: '" + val + "' is not an integer size for " + name);
    }
    if (v < 1 || v > 2000)
      throw Error(ErrorKind::Limit, "--dims: size of " + name + " must be between 1 and 2000 for a check");
    out[name] = v;
  }
  return out;
}

int run_check(const Common& c, const std::string& dims, std::uint64_t seed, double tolerance) {
  Session s;
  Function f = load(s, c, /*want_scalar=*/true);
  (void)s.gradients(f, c.wrt);  // errors in the order of the pipeline: names before --dims
  CheckSettings opt;
  opt.dims = parse_dims(dims);
  opt.seed = seed;
  opt.tolerance = tolerance;
  CheckOutcome r = s.check(f, c.wrt, opt);
  std::cout << r.text(seed);
  return r.ok ? 0 : kExitDisagree;
}

// ---------------------------------------------------------------- explain, rules

DocFormat doc_format(const std::string& f) {
  return f == "text"       ? DocFormat::Text
         : f == "latex"    ? DocFormat::Latex
         : f == "markdown" ? DocFormat::Markdown
                           : DocFormat::Json;
}

int run_explain(const Common& c, const std::string& format) {
  if (c.wrt.size() != 1) throw Error(ErrorKind::Usage, "explain derives w.r.t. one variable: give --wrt once");
  Session s;
  Function f = load(s, c, /*want_scalar=*/true);
  std::cout << s.explain(f, c.wrt[0]).format(doc_format(format));
  return 0;
}

int run_rules(const std::string& name, const std::string& search, const std::string& format) {
  std::cout << rules(name, search, doc_format(format));
  return 0;
}

// An expression may begin with '-' ("-y'*log(p)"): after `--`, or wherever an
// argument starting with '-' cannot be an option, it is taken out of argv as
// EXPR before CLI11 sees it.
struct SplitArgs {
  std::vector<std::string> args;
  std::optional<std::string> expr;
};

SplitArgs split_expression(int argc, char** argv) {
  static const std::set<std::string> takes_value = {"--wrt", "--decl", "--expr-file", "--format", "--values",
                                                    "--dims", "--seed", "--tolerance"};
  auto option_shaped = [](const std::string& a) {
    std::size_t i = a.rfind("--", 0) == 0 ? 2 : 1;
    if (a.size() <= i || !std::isalpha(static_cast<unsigned char>(a[i]))) return false;
    for (; i < a.size() && a[i] != '='; ++i)
      if (!std::isalnum(static_cast<unsigned char>(a[i])) && a[i] != '-' && a[i] != '_') return false;
    return true;
  };
  SplitArgs out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool after_value_option = i > 0 && takes_value.count(argv[i - 1]);
    if (i > 1 && a == "--") {
      for (int j = i + 1; j < argc; ++j) {
        if (out.expr) throw Error(ErrorKind::Usage, "more than one expression after '--'");
        out.expr = argv[j];
      }
      break;
    }
    if (i > 1 && !after_value_option && a.size() > 1 && a[0] == '-' && !option_shaped(a)) {
      if (out.expr) throw Error(ErrorKind::Usage, "more than one expression given");
      out.expr = a;
      continue;
    }
    out.args.push_back(a);
  }
  return out;
}

// --expr-file FILE: EXPR (with any declarations before it, separated by ';' or
// newlines) read from FILE, or from stdin for '-'; for expressions past the
// 128 KiB that Linux allows one argument. Read up to the parser's size limit.
void read_expr_file(Common& c) {
  if (!c.expr.empty()) throw Error(ErrorKind::Usage, "give EXPR or --expr-file, not both");
  const bool stdin_ = c.expr_file == "-";
  std::error_code ec;
  if (!stdin_ && std::filesystem::is_directory(c.expr_file, ec))
    throw Error(ErrorKind::Usage, "--expr-file '" + c.expr_file + "' is a directory");
  std::ifstream file;
  if (!stdin_) {
    file.open(c.expr_file, std::ios::binary);
    if (!file) throw Error(ErrorKind::Usage, "cannot read --expr-file '" + c.expr_file + "': " + std::strerror(errno));
  }
  std::istream& in = stdin_ ? std::cin : file;
  std::string text(max_source_bytes() + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_source_bytes())
    throw Error(ErrorKind::Limit,
                "--expr-file: expression longer than " + std::to_string(max_source_bytes()) + " bytes");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error(ErrorKind::Usage, "--expr-file '" + c.expr_file + "' holds no expression");
  c.expr = std::move(text);
}

void add_common(CLI::App* cmd, Common& c, bool wrt_required) {
  cmd->add_option("EXPR", c.expr, "the expression (LANGUAGE.md); declarations may precede it, separated by ';'");
  cmd->add_option("--expr-file", c.expr_file,
                  "read EXPR from a file ('-': stdin), for long expressions; declarations may precede it");
  auto* w = cmd->add_option("--wrt", c.wrt, "variable to differentiate with respect to (repeatable)")
                ->allow_extra_args(false);
  if (wrt_required) w->required();
  cmd->add_option("--decl", c.decl, "declarations, e.g. \"W: matrix(n,k); s: scalar; S: symmetric(n)\"");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"matcalc: symbolic matrix calculus — gradients in closed matrix form, checked numerically"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "matcalc 0.1.0");

  Common grad_c, eval_c, check_c;
  std::string format = "text", values, dims;
  bool json = false;
  std::uint64_t seed = 1;
  double tolerance = 1e-5;

  CLI::App* grad = app.add_subcommand("grad", "print the simplified gradient of a scalar expression");
  add_common(grad, grad_c, true);
  grad->add_option("--format", format, "text (default), latex, numpy, torch, eigen (C++), json")
      ->check(CLI::IsMember({"text", "latex", "numpy", "torch", "eigen", "json"}));

  CLI::App* eval = app.add_subcommand("eval", "evaluate an expression (and its gradients) at given values");
  add_common(eval, eval_c, false);
  eval->add_option("--values", values, "JSON file mapping each symbol to a number, a list or a list of rows")
      ->required();
  eval->add_flag("--json", json, "print one JSON object {\"value\": ..., \"gradient\": {...}}");

  CLI::App* check = app.add_subcommand("check", "compare the symbolic gradient with central finite differences");
  add_common(check, check_c, true);
  check->add_option("--dims", dims, "sizes of dimension symbols, e.g. n=5,k=3 (others random in 2..5)");
  check->add_option("--seed", seed, "random seed (default 1)");
  check->add_option("--tolerance", tolerance, "largest accepted relative error (default 1e-5)");

  Common explain_c;
  std::string explain_format = "text";
  CLI::App* explain_cmd = app.add_subcommand("explain", "derive the gradient step by step, naming each rule");
  add_common(explain_cmd, explain_c, true);
  explain_cmd->add_option("--format", explain_format, "text (default), latex, markdown, json")
      ->check(CLI::IsMember({"text", "latex", "markdown", "json"}));

  std::string rule_name, rule_search, rules_format = "text";
  CLI::App* rules_cmd = app.add_subcommand("rules", "the rule book: every rule matcalc uses, or one of them");
  rules_cmd->add_option("NAME", rule_name, "show the rule with this name");
  rules_cmd->add_option("--search", rule_search, "show the rules that mention WORD");
  rules_cmd->add_option("--format", rules_format, "text (default), latex, markdown, json")
      ->check(CLI::IsMember({"text", "latex", "markdown", "json"}));

  SplitArgs split;
  try {
    split = split_expression(argc, argv);
  } catch (const Error& e) {
    std::cerr << format_error(e, "");
    return kExitBadInput;
  }
  std::vector<char*> cargs;
  for (auto& a : split.args) cargs.push_back(a.data());
  Common* active = nullptr;  // the command's EXPR and options; none for rules
  // Commands of CLI.md that later milestones add: say so plainly.
  for (const char* planned : {"jacobian", "hessian"}) {
    app.add_subcommand(planned, std::string("not available in this version of matcalc"))
        ->allow_extras()
        ->callback([planned] {
          throw Error(ErrorKind::Unsupported, std::string("'matcalc ") + planned +
                                                  "' is not available in this version yet (grad, eval, check, explain and rules are)");
        });
  }
  try {
    // A first word that names no command: say so (CLI11 would only report
    // that a subcommand is required).
    if (cargs.size() > 1 && cargs[1][0] != '-') {
      std::string names;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        known = known || sub->get_name() == cargs[1];
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known) throw Error(ErrorKind::Usage, std::string("unknown command '") + cargs[1] + "' (" + names + ")");
    }
    app.parse(static_cast<int>(cargs.size()), cargs.data());
    active = grad->parsed()          ? &grad_c
             : eval->parsed()        ? &eval_c
             : check->parsed()       ? &check_c
             : explain_cmd->parsed() ? &explain_c
                                     : nullptr;  // rules: no expression
    if (!active && split.expr) throw CLI::ParseError("rules takes a NAME, not an expression", 2);
    if (active) {
      if (split.expr) {
        if (!active->expr.empty()) throw CLI::ParseError("more than one expression given", 2);
        active->expr = *split.expr;
      }
      if (!active->expr_file.empty()) read_expr_file(*active);
      if (active->expr.empty()) throw CLI::RequiredError("EXPR");
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\nRun 'matcalc --help' or 'matcalc COMMAND --help' for usage.\n";
    return kExitBadInput;
  } catch (const Error& e) {
    std::cerr << format_error(e, "");
    return kExitBadInput;
  }

  try {
    if (active == &grad_c) return run_grad(grad_c, format);
    if (active == &eval_c) return run_eval(eval_c, values, json);
    if (active == &check_c) return run_check(check_c, dims, seed, tolerance);
    if (active == &explain_c) return run_explain(explain_c, explain_format);
    return run_rules(rule_name, rule_search, rules_format);
  } catch (const Error& e) {
    const bool in_decl = e.source() == ErrorSource::Declarations;
    std::cerr << (in_decl ? "in --decl: " : "")
              << format_error(e, !active   ? ""
                                 : in_decl ? active->decl
                                           : active->expr);
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "error: internal error (please report): " << e.what() << "\n";
    return kExitBadInput;
  }
}
