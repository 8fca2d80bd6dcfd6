//! Evaluates a family's rules against the context and renders the templates.

use std::sync::LazyLock;

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, context};

use crate::context::Context;
use crate::distro::{Family, Op, Rule, Scope, TEMPLATES};
use crate::{Action, Error, Task};

/// The lines that open generated files which carry a header.
const HEADER: &str = "# Written by warren netconf from the Equinix Metal metadata.\n\
                      # Running warren netconf again replaces what it wrote.";

/// The environment with every template compiled once; a template that does
/// not compile is reported on first use.
static ENV: LazyLock<Result<Environment<'static>, minijinja::Error>> = LazyLock::new(environment);

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // The Jinja settings the upstream templates were written for.
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_function("header", || HEADER);
    env.add_filter("need", need);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// A value a template needs is missing from the metadata or the command line.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
struct Missing {
    key: String,
    message: &'static str,
}

/// `value | need("key")`: the value, or an error naming the key if it is none.
fn need(value: Value, key: String) -> Result<Value, minijinja::Error> {
    if !value.is_none() && !value.is_undefined() {
        return Ok(value);
    }
    let message = match key.as_str() {
        "resolvers" => {
            "none given by --resolvers or PACKET_RESOLVERS, and no IPv4 nameserver in the host resolv.conf"
        }
        "network.addresses" => "no management IPv4 address, public or private",
        _ => "missing",
    };
    let missing = Missing { key, message };
    Err(
        minijinja::Error::new(ErrorKind::InvalidOperation, missing.to_string())
            .with_source(missing),
    )
}

/// Maps a minijinja failure to a metadata error when a `need` caused it.
fn template_error(name: &str, err: &minijinja::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(m) = e.downcast_ref::<Missing>() {
            return Error::key(m.key.clone(), m.message);
        }
        source = e.source();
    }
    Error::Template {
        name: name.to_owned(),
        message: err.to_string().replace('\n', " "),
    }
}

/// A rule selected for one path, not yet rendered.
struct Selected<'r> {
    rule: &'r Rule,
    path: String,
    item: Value,
}

/// Produces the tasks of `family` for this context, in write order.
pub(crate) fn tasks(family: &Family, ctx: &Context) -> Result<Vec<Task>, Error> {
    let env = ENV
        .as_ref()
        .map_err(|e| template_error("(environment)", e))?;
    let base = Value::from(Serde(ctx));
    let selected = select(env, family, ctx, &base)?;
    if !selected.iter().any(|s| s.rule.scope != Scope::Distro) {
        return Err(Error::NoNetworkTasks(
            ctx.net.bonding.link_aggregation.clone(),
        ));
    }
    selected
        .into_iter()
        .map(|s| render(env, &base, s))
        .collect()
}

/// Evaluates `when`, `each` and the path of every rule that applies. Distro
/// rules come first; a network rule for the same path replaces the distro's
/// in place (so a DHCP delete of etc/resolv.conf wins).
fn select<'r>(
    env: &Environment<'static>,
    family: &'r Family,
    ctx: &Context,
    base: &Value,
) -> Result<Vec<Selected<'r>>, Error> {
    let applies = |scope: Scope| match scope {
        Scope::Distro => true,
        Scope::AnyNetwork => ctx.network_builder.is_some(),
        Scope::Network(b) => ctx.network_builder == Some(b),
    };
    let distro_first = family
        .rules
        .iter()
        .filter(|r| r.scope == Scope::Distro)
        .chain(family.rules.iter().filter(|r| r.scope != Scope::Distro));
    let mut out: Vec<Selected<'r>> = Vec::new();
    for rule in distro_first.filter(|r| applies(r.scope)) {
        let eval = |expr: &str| {
            env.compile_expression(expr)
                .and_then(|e| e.eval(base.clone()))
                .map_err(|e| template_error(rule.path, &e))
        };
        if let Some(cond) = rule.when
            && !eval(cond)?.is_true()
        {
            continue;
        }
        let items: Vec<Value> = match rule.each {
            None => vec![Value::UNDEFINED],
            Some(list) => eval(list)?
                .try_iter()
                .map_err(|e| template_error(rule.path, &e))?
                .collect(),
        };
        for item in items {
            let path = if rule.path.contains("{{") {
                env.render_str(rule.path, context! { item => item.clone(), ..base.clone() })
                    .map_err(|e| template_error(rule.path, &e))?
            } else {
                rule.path.to_owned()
            };
            let sel = Selected { rule, path, item };
            match out.iter_mut().find(|s| s.path == sel.path) {
                Some(slot) => *slot = sel,
                None => out.push(sel),
            }
        }
    }
    Ok(out)
}

fn render(env: &Environment<'static>, base: &Value, sel: Selected<'_>) -> Result<Task, Error> {
    let (action, template) = match sel.rule.op {
        Op::Write(t) => (Action::Write, Some(t)),
        Op::Append(t) => (Action::Append, Some(t)),
        Op::Delete => (Action::Delete, None),
    };
    let content = template
        .map(|name| {
            env.get_template(name)
                .and_then(|t| t.render(context! { item => sel.item, ..base.clone() }))
                .map(|text| collapse_blank_lines(&text))
                .map_err(|e| template_error(name, &e))
        })
        .transpose()?;
    Ok(Task {
        path: sel.path,
        action,
        mode: sel.rule.mode,
        content,
    })
}

/// Squeezes runs of blank lines to one, as upstream does after rendering,
/// so that no file has two consecutive empty lines.
fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_runs_become_one() {
        assert_eq!(collapse_blank_lines("a\n\n\n\nb\n"), "a\n\nb\n");
        assert_eq!(collapse_blank_lines("a\nb\n\n"), "a\nb\n\n");
        assert_eq!(collapse_blank_lines("\n\n\na"), "\n\na");
    }

    #[test]
    fn every_template_compiles() {
        let env = ENV.as_ref().unwrap();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
    }
}
