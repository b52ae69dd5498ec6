#include "explain/rulebook.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "diff/derivatives.hpp"
#include "explain/identities.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/latex.hpp"
#include "print/text.hpp"
#include "simplify/rules.hpp"

namespace matcalc {

namespace {

// The parts of `text` between top-level ':' (Frobenius products).
std::vector<std::string> split_frobenius(const std::string& text) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ':' && depth == 0)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

// LaTeX of one side of a statement; dA prints as \mathrm{d}A.
std::string latex_side(const std::string& text, const std::string& decls) {
  std::vector<std::string> latex;
  bool sums = false;
  for (const std::string& part : split_frobenius(text)) {
    Context cx;
    TypedProgram p = compile(cx, part, decls);
    Spellings names;
    for (const auto& [name, sym] : p.symbols)
      if (name.size() > 1 && name[0] == 'd' && p.symbols.count(name.substr(1)))
        names[sym] = "\\mathrm{d}" + to_latex(p.symbols.at(name.substr(1)));
    latex.push_back(to_latex(p.expr, names));
    if (p.expr->op == Op::Add) sums = true;
  }
  if (latex.size() == 1) return latex[0];
  std::string out;
  for (const auto& s : latex) out += (out.empty() ? "" : " : ") + (sums ? "\\left(" + s + "\\right)" : s);
  return out;
}

// The declarations of a differential rule: its own, and dA like A.
std::string with_differentials(const std::string& expression, const std::string& decls) {
  Context cx;
  TypedProgram p = compile(cx, expression, decls);
  std::string out = decls;
  for (const auto& name : p.order) {
    Expr sym = p.symbols.at(name);
    out += (out.empty() ? "" : "; ") + std::string("d") + to_declaration(sym);
  }
  return out;
}

std::string guard_text(const std::string& g) {
  auto open = g.find('(');
  std::string pred = g.substr(0, open);
  if (pred == "never") return "applied by hand only";
  std::string var = g.substr(open + 1, g.size() - open - 2);
  if (pred == "symmetric") return var + " symmetric";
  if (pred == "square") return var + " square";
  if (pred == "scalar") return var + " is a scalar";
  if (pred == "vector") return var + " is a vector";
  if (pred == "matrix") return var + " is a matrix (not a vector)";
  // Domain conditions: said by the rule's domain text (rule_book()).
  if (pred == "positive" || pred == "nonneg" || pred == "invertible") return "";
  return g;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* section_title(const std::string& kind) {
  if (kind == "differential") return "Differential rules";
  if (kind == "identity") return "Rearrangement identities";
  return "Simplification rules";
}

const char* section_intro(const std::string& kind) {
  if (kind == "differential")
    return "The differential of each operation, applied from the outside in: dA is the differential of A, "
           "and the differential of anything that does not depend on the variable is 0.";
  if (kind == "identity")
    return "How a differential is brought into the form df = G : dX, where A : B = tr(A'*B) = sum(A .* B) "
           "is the Frobenius inner product; then G is the gradient.";
  return "Rewrites the simplifier applies everywhere, to results and to input.";
}

std::string reference_text(const std::string& ref) { return ref.empty() ? "" : "Matrix Cookbook " + ref; }

}  // namespace

const std::vector<RuleEntry>& rule_book() {
  static const std::vector<RuleEntry> book = [] {
    std::vector<RuleEntry> out;
    std::set<std::string> seen;
    for (const DerivativeRule& r : derivative_rules()) {
      if (!seen.insert(r.name).second) continue;
      std::string decls = with_differentials(r.expression, r.declarations);
      RuleEntry e{"differential",
                  r.name,
                  std::string("d(") + r.expression + ")",
                  r.differential,
                  decls,
                  r.conditions,
                  r.reference,
                  "",
                  "",
                  ""};
      e.lhs_latex = "\\mathrm{d}\\left(" + latex_side(r.expression, decls) + "\\right)";
      e.rhs_latex = latex_side(r.differential, decls);
      out.push_back(std::move(e));
    }
    for (const Identity& r : rearrangement_identities()) {
      if (!seen.insert(r.name).second) continue;
      RuleEntry e{"identity", r.name, r.lhs, r.rhs, r.declarations, r.conditions, r.reference, "", "", ""};
      e.lhs_latex = latex_side(r.lhs, r.declarations);
      e.rhs_latex = latex_side(r.rhs, r.declarations);
      out.push_back(std::move(e));
    }
    for (const RewriteRule& r : rewrite_rules()) {
      if (!seen.insert(r.name).second) continue;
      std::string conditions;
      bool domain_guard = false;
      for (const auto& g : r.guards) {
        std::string text = guard_text(g);
        domain_guard = domain_guard || text.empty();
        if (!text.empty()) conditions += (conditions.empty() ? "" : ", ") + text;
      }
      RuleEntry e{
          "simplification", r.name, r.pattern, r.replacement, r.declarations, conditions, r.reference, "", "", ""};
      // Where each side is defined; a rule that would widen the domain
      // applies only where that cannot happen (simplify/rules.hpp).
      e.domain = r.domain;
      if (domain_guard) e.domain += ": applied only where that is known, or still needed by the result";
      e.lhs_latex = latex_side(r.pattern, r.declarations);
      e.rhs_latex = latex_side(r.replacement, r.declarations);
      out.push_back(std::move(e));
    }
    return out;
  }();
  return book;
}

std::vector<RuleEntry> search_rules(const std::string& word) {
  std::string w = lower(word);
  std::vector<RuleEntry> out;
  for (const RuleEntry& e : rule_book()) {
    std::string hay = lower(e.kind + " " + e.name + " " + e.lhs + " = " + e.rhs + " " + e.conditions);
    if (hay.find(w) != std::string::npos) out.push_back(e);
  }
  return out;
}

RuleEntry find_rule(const std::string& name) {
  for (const RuleEntry& e : rule_book())
    if (e.name == name) return e;
  std::string near;
  for (const RuleEntry& e : rule_book())
    if (e.name.find(name) != std::string::npos || name.find(e.name) != std::string::npos)
      near += (near.empty() ? "" : ", ") + e.name;
  throw Error(ErrorKind::Name, "no rule named '" + name + "'" +
                                   (near.empty() ? " (matcalc rules lists them all; --search WORD finds some)"
                                                 : "; did you mean " + near + "?"));
}

std::string rules_text(const std::vector<RuleEntry>& rules) {
  std::string out, kind;
  for (const RuleEntry& e : rules) {
    if (e.kind != kind) {
      kind = e.kind;
      out += std::string(out.empty() ? "" : "\n") + section_title(kind) + "\n\n";
    }
    out += "  " + e.name + "\n      " + e.lhs + " = " + e.rhs + "\n";
    if (!e.conditions.empty()) out += "      when " + e.conditions + "\n";
    if (!e.domain.empty()) out += "      domain: " + e.domain + "\n";
    if (!e.reference.empty()) out += "      " + reference_text(e.reference) + "\n";
  }
  return out;
}

std::string rules_latex(const std::vector<RuleEntry>& rules) {
  std::string out;
  for (const RuleEntry& e : rules) out += "\\text{" + e.name + "}: \\quad " + e.lhs_latex + " = " + e.rhs_latex + "\n";
  return out;
}

std::string rules_markdown(const std::vector<RuleEntry>& rules) {
  std::string out =
      "# The matcalc rule book\n\n"
      "Every rule that matcalc uses to differentiate, to rearrange a differential into a gradient, and to "
      "simplify. `matcalc explain` names these rules at each step of a derivation; `matcalc rules NAME` "
      "shows one of them. Each rule is checked numerically by the test suite (both sides evaluated on "
      "random inputs).\n\n"
      "This file is generated by `matcalc rules --format markdown` (build target `cookbook`); do not edit it "
      "by hand.\n";
  std::string kind;
  for (const RuleEntry& e : rules) {
    if (e.kind != kind) {
      kind = e.kind;
      out += std::string("\n## ") + section_title(kind) + "\n\n" + section_intro(kind) + "\n";
    }
    out += "\n### " + e.name + "\n\n$$" + e.lhs_latex + " = " + e.rhs_latex + "$$\n\n`" + e.lhs + " = " + e.rhs + "`";
    if (!e.conditions.empty()) {
      bool formula = e.conditions.find_first_of("*^_") != std::string::npos;
      out += ", when " + (formula ? "`" + e.conditions + "`" : e.conditions);
    }
    if (!e.reference.empty()) out += " (" + reference_text(e.reference) + ")";
    out += "\n";
    if (!e.domain.empty()) out += "\nDomain: " + e.domain + ".\n";
  }
  return out;
}

nlohmann::ordered_json rules_json(const std::vector<RuleEntry>& rules) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const RuleEntry& e : rules) {
    out.push_back({{"kind", e.kind},
                   {"name", e.name},
                   {"lhs", e.lhs},
                   {"rhs", e.rhs},
                   {"declarations", e.declarations},
                   {"conditions", e.conditions},
                   {"reference", e.reference},
                   {"latex", e.lhs_latex + " = " + e.rhs_latex}});
    if (!e.domain.empty()) out.back()["domain"] = e.domain;
  }
  return out;
}

}  // namespace matcalc
