//! The IAM-policy answer of a custom authorizer: `Allow`/`Deny` statements on `execute-api:Invoke`
//! whose `Resource` ARNs (with `*` and `?` wildcards) are matched against the method ARN.

use serde::Deserialize;

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`, as AWS builds it for
/// authorizers; the account is always `edgeway`. `path` is the request path inside the stage.
pub fn method_arn(region: &str, api: &str, stage: &str, method: &str, path: &str) -> String {
    let path = path.strip_prefix('/').unwrap_or(path);
    format!("arn:aws:execute-api:{region}:edgeway:{api}/{stage}/{method}/{path}")
}

/// `policyDocument` of the answer. AWS accepts one value or a list for Action and Resource, and
/// either case for the keys' first letter is seen in the wild (`Statement`/`statement`).
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Statement", alias = "statement", default)]
    statements: OneOrMany<Statement>,
}

#[derive(Debug, Clone, Deserialize)]
struct Statement {
    #[serde(rename = "Effect", alias = "effect")]
    effect: String,
    #[serde(rename = "Action", alias = "action", default)]
    action: OneOrMany<String>,
    #[serde(rename = "Resource", alias = "resource", default)]
    resource: OneOrMany<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one).iter(),
            OneOrMany::Many(many) => many.iter(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denies this ARN: wins over any Allow.
    ExplicitDeny,
    /// No statement allows this ARN.
    ImplicitDeny,
}

impl PolicyDocument {
    /// IAM's rule: an explicit deny wins, then an allow, else deny.
    pub fn evaluate(&self, arn: &str) -> Decision {
        let mut allowed = false;
        for statement in self.statements.iter() {
            let invokes = statement
                .action
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"));
            if !invokes || !statement.resource.iter().any(|r| glob(r, arn)) {
                continue;
            }
            if statement.effect.eq_ignore_ascii_case("deny") {
                return Decision::ExplicitDeny;
            }
            if statement.effect.eq_ignore_ascii_case("allow") {
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// IAM wildcard match: `*` is any run of characters (slashes included), `?` any one character.
/// Iterative with one backtrack point, so a hostile pattern cannot make it exponential.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(value: serde_json::Value) -> PolicyDocument {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn arns_follow_aws_layout() {
        assert_eq!(
            method_arn("eu-west", "shop", "prod", "GET", "/pets/7"),
            "arn:aws:execute-api:eu-west:edgeway:shop/prod/GET/pets/7"
        );
    }

    #[test]
    fn wildcards_match_any_run_or_one_character() {
        assert!(glob("*", ""));
        assert!(glob("arn:*:shop/prod/*", "arn:aws:x:shop/prod/GET/a/b"));
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
        assert!(!glob("arn:*/prod/GET/*", "arn:x/dev/GET/a"));
        assert!(glob("*GET*", "arn/GET/") && !glob("*POST*", "arn/GET/"));
        assert!(!glob("a*b*c*d*e*f*g*h*x", &"abcdefgh".repeat(40)));
    }

    #[test]
    fn explicit_deny_wins_and_nothing_matching_denies() {
        let arn = "arn:aws:execute-api:r:edgeway:shop/prod/GET/pets/7";
        let doc = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:r:edgeway:shop/*"},
            {"Effect": "Deny", "Action": ["execute-api:Invoke"], "Resource": ["*/DELETE/*"]},
        ]}));
        assert_eq!(doc.evaluate(arn), Decision::Allow);
        assert_eq!(
            doc.evaluate("arn:aws:execute-api:r:edgeway:shop/prod/DELETE/pets/7"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            doc.evaluate("arn:aws:execute-api:r:edgeway:other/prod/GET/x"),
            Decision::ImplicitDeny
        );
        let other_action = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        ]}));
        assert_eq!(other_action.evaluate(arn), Decision::ImplicitDeny);
        let any_action = policy(
            json!({"Statement": {"Effect": "allow", "Action": "execute-api:*", "Resource": "*"}}),
        );
        assert_eq!(any_action.evaluate(arn), Decision::Allow);
    }
}
