//! The consent page: who asks and for what, approve or deny. Deciding whether to ask (the
//! rules, a remembered consent) and what follows the answer (the code) belong to the
//! pending authorization's life in `flow`.

mod page;

pub use page::{get_consent, post_consent};
