// The derivative table of docs/language.md, generated from the engine's own
// table (derivative_rules(), src/diff/derivatives.cpp) so that the document
// cannot drift from the code. For each row: the operator, the rule's name (as
// `matcalc explain` and `matcalc rules` name it), the expression and its
// differential (the forward rule), the reverse rule (the adjoints that
// propagate_adjoint(), and so `grad`, passes to the arguments), the symbols'
// shapes, the conditions and the Matrix Cookbook equation.
//
//   gen_language_table                 prints the table (Markdown)
//   gen_language_table --write FILE    replaces the table in FILE, between
//                                      <!-- derivative-table:begin --> and
//                                      <!-- derivative-table:end -->
//   gen_language_table --check FILE    exit status 1, saying how to
//                                      regenerate, when FILE's table is stale
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "diff/derivatives.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"

namespace {

using namespace matcalc;

constexpr const char* kBegin = "<!-- derivative-table:begin -->";
constexpr const char* kEnd = "<!-- derivative-table:end -->";
constexpr const char* kRegenerate = "cmake --build build --target language_doc";

// A table cell in code font: `|` would end the cell.
std::string code(const std::string& s) {
  if (s.empty()) return "";
  std::string out = "`";
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out + "`";
}

// A table cell in plain text: Markdown's own characters escaped.
std::string plain(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '*' || c == '_' || c == '|' || c == '<' || c == '`' || c == '[' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// The reverse rule of the row: for y = expression with adjoint G (df = G : dy),
// each argument's adjoint. Arguments that are constants get none.
std::string reverse_rule(const DerivativeRule& r) {
  if (op_class(r.op) == OpClass::Leaf) return "none (no arguments)";
  Context cx;
  TypedProgram p = compile(cx, r.expression, r.declarations);
  Expr y = p.expr;
  std::vector<bool> wanted;
  for (Expr k : y->kids) wanted.push_back(!k->constant);
  std::vector<Expr> adjoints;
  try {
    adjoints = propagate_adjoint(y, symbol(cx, "G", y->shape), wanted);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Unsupported) throw;
    return "not supported: " + plain(e.what());
  }
  std::string out;
  for (std::size_t i = 0; i < y->kids.size(); ++i) {
    if (!wanted[i] || !adjoints[i]) continue;
    out += (out.empty() ? "" : "; ") + code(to_text(y->kid(i))) + " gets " + code(to_text(adjoints[i]));
  }
  return out;
}

std::string table() {
  std::ostringstream out;
  out << "| operator | rule | expression | differential | reverse rule (G the expression's adjoint) | symbols | "
         "conditions | Cookbook |\n"
      << "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const DerivativeRule& r : derivative_rules()) {
    out << "| " << code(std::string(op_name(r.op))) << " | [" << r.name << "](cookbook.md#" << r.name << ") | "
        << code(r.expression) << " | " << code(std::string("d(") + r.expression + ") = " + r.differential) << " | "
        << reverse_rule(r) << " | " << code(r.declarations) << " | " << plain(r.conditions) << " | " << r.reference
        << " |\n";
  }
  return out.str();
}

// The generated block between the markers, as it stands in the document.
std::string block() { return std::string(kBegin) + "\n\n" + table() + "\n" + kEnd; }

bool read(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  text = s.str();
  return true;
}

// [begin, end) of the marked block in `doc`, markers included; false without markers.
bool find_block(const std::string& doc, std::size_t& begin, std::size_t& end) {
  begin = doc.find(kBegin);
  if (begin == std::string::npos) return false;
  std::size_t e = doc.find(kEnd, begin);
  if (e == std::string::npos) return false;
  end = e + std::string(kEnd).size();
  return true;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int run(int argc, char** argv) {
  if (argc == 1) {
    std::cout << table();
    return 0;
  }
  const std::string mode = argv[1];
  if (argc != 3 || (mode != "--write" && mode != "--check")) {
    std::cerr << "usage: gen_language_table [--write FILE | --check FILE]\n";
    return 2;
  }
  const std::string path = argv[2];
  std::string doc;
  if (!read(path, doc)) {
    std::cerr << path << ": cannot read it\n";
    return 2;
  }
  std::size_t begin = 0, end = 0;
  if (!find_block(doc, begin, end)) {
    std::cerr << path << ": no " << kBegin << " ... " << kEnd << " block for the derivative table\n";
    return 2;
  }
  const std::string want = block();
  const std::string have = doc.substr(begin, end - begin);
  if (mode == "--write") {
    if (have == want) return 0;
    std::ofstream out(path, std::ios::binary);
    out << doc.substr(0, begin) << want << doc.substr(end);
    if (!out) {
      std::cerr << path << ": cannot write it\n";
      return 2;
    }
    return 0;
  }
  if (have == want) return 0;
  std::cerr << path << ": the derivative table is out of date (it is generated from derivative_rules() in "
            << "src/diff/derivatives.cpp): run '" << kRegenerate << "' and commit " << path << "\n";
  std::vector<std::string> a = lines(have), b = lines(want);
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string* x = i < a.size() ? &a[i] : nullptr;
    const std::string* y = i < b.size() ? &b[i] : nullptr;
    if (x && y && *x == *y) continue;
    std::cerr << "first difference, line " << i + 1 << " of the table:\n"
              << "  committed: " << (x ? *x : "(none)") << "\n"
              << "  generated: " << (y ? *y : "(none)") << "\n";
    break;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "gen_language_table: " << e.what() << "\n";
    return 2;
  }
}
