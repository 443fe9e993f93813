//! Cursor connections (Relay): forward pagination with `first` and `after`, bounded page sizes,
//! opaque cursors and a `totalCount`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use em_engine::DomainError;

use crate::service::model::{Page, PageRequest};

/// The default and the largest page.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

/// Extra connection fields.
#[derive(SimpleObject)]
pub struct Counted {
    /// How many items match the filter, across all pages.
    pub total_count: usize,
}

pub type Conn<T> = Connection<String, T, Counted>;

/// What a connection field costs against the schema's complexity limit: its page size (`first`,
/// else the default page) times what each item selects, so nested lists multiply.
#[must_use]
pub fn cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0).min(MAX_PAGE));
    page.max(1).saturating_mul(child_complexity)
}

/// Validates `first` and `after` into a store page request, which counts the items of every
/// page only when the query selects `totalCount`.
pub fn request(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PageRequest, DomainError> {
    let mut request = request_counted(first, after)?;
    request.count = ctx.look_ahead().field("totalCount").exists();
    Ok(request)
}

/// Validates `first` and `after` into a store page request that counts the items.
pub fn request_counted(first: Option<i32>, after: Option<String>) -> Result<PageRequest, DomainError> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n < 0 => return Err(DomainError::invalid("first", "`first` must not be negative")),
        Some(n) => usize::try_from(n).unwrap_or(MAX_PAGE),
    };
    if first > MAX_PAGE {
        return Err(DomainError::invalid("first", format!("`first` must be at most {MAX_PAGE}")));
    }
    let after = after.map(|c| decode_cursor(&c)).transpose()?;
    Ok(PageRequest { after, first, count: true })
}

/// Builds a connection from a store page, mapping each item.
pub fn connection<T, O: OutputType>(page: Page<T>, has_previous: bool, map: impl Fn(T) -> O) -> Conn<O> {
    let mut conn =
        Connection::with_additional_fields(has_previous, page.has_next, Counted { total_count: page.total });
    conn.edges
        .extend(page.items.into_iter().map(|(cursor, item)| Edge::new(encode_cursor(&cursor), map(item))));
    conn
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, DomainError> {
    URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(
        || DomainError::invalid("after", format!("`{cursor}` is not a cursor this server issued")),
    )
}
