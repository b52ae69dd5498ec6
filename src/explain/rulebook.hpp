// The rule book (`matcalc rules`, docs/cookbook.md): every rule the engine
// uses, generated from the engine's own tables, so there is one source of
// truth: the derivative table (diff/derivatives.hpp), the rearrangement
// identities of explain (explain/identities.hpp) and the simplification
// rules (simplify/rules.hpp). Each entry is an equation lhs = rhs in the
// text language with declarations for its symbols; tests check every entry
// numerically.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace matcalc {

struct RuleEntry {
  std::string kind;          // "differential", "identity" or "simplification"
  std::string name;          // unique within the book
  std::string lhs, rhs;      // lhs = rhs; for a differential rule lhs is d(expression)
  std::string declarations;  // shapes of the symbols (dA has A's shape)
  std::string conditions;    // where it holds; empty when always
  std::string reference;     // Matrix Cookbook (2012) equation number, if any
  std::string lhs_latex, rhs_latex;
  std::string domain;  // simplifications: where each side is defined
};

// Every rule, one entry per name, in book order (differentials, identities,
// simplifications).
const std::vector<RuleEntry>& rule_book();
// Entries whose name, statement, conditions or kind contain `word`
// (case-insensitive).
std::vector<RuleEntry> search_rules(const std::string& word);
// The entry named `name`; a Name error listing near names when none is.
RuleEntry find_rule(const std::string& name);

std::string rules_text(const std::vector<RuleEntry>& rules);
std::string rules_latex(const std::vector<RuleEntry>& rules);
std::string rules_markdown(const std::vector<RuleEntry>& rules);
nlohmann::ordered_json rules_json(const std::vector<RuleEntry>& rules);

}  // namespace matcalc
