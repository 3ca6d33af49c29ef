// A retried task passes each argument again to every attempt but the last; an
// argument kind that cannot be passed again (here a hand-written one, not `Clone`)
// does not compile with `.retries(n)`, and does without.
use graph_runtime::__private::dynamic::{Env, Parents};
use graph_runtime::{delayed, IntoArg, PassArg};

struct Token(u64);

struct TokenArg(u64);

impl PassArg for TokenArg {
    type Held<'a> = u64;
    type Param<'s> = Token;
    fn hold<'a>(&'a self, _env: &Env<'a>, _cursor: &mut usize) -> u64 {
        self.0
    }
    fn pass<'s>(held: &'s mut u64) -> Token {
        Token(*held)
    }
}

struct MakeToken(u64);

impl IntoArg<Token> for MakeToken {
    type Arg = TokenArg;
    fn into_arg(self, _parents: &mut Parents) -> TokenArg {
        TokenArg(self.0)
    }
}

fn main() {
    let _once = delayed(|t: Token| t.0 + 1).call(MakeToken(1));
    let _retried = delayed(|t: Token| t.0 + 1).retries(2).call(MakeToken(1));
}
