//! The store's connections: each pooled client with the statements it has prepared, so that
//! a statement is parsed and planned once per connection and then only bound and executed,
//! one round trip, where an unprepared one costs two (parse, then execute) and a plan each
//! time.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};
use r2d2_postgres::PostgresConnectionManager;

/// A client of the pool and its prepared statements, by their text.
pub(crate) struct PgConn {
    client: Client,
    pub(crate) statements: Statements,
    /// When the connection last went back to the pool (or was made).
    returned: Instant,
}

impl Deref for PgConn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl PgConn {
    /// The rows of `sql` with `params`, the statement prepared once per connection.
    ///
    /// # Errors
    /// The server's.
    pub(crate) fn query_cached(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statements.get(&mut self.client, sql)?;
        self.client.query(&statement, params)
    }

    /// The client and the statement cache, borrowed apart: a transaction of the one
    /// prepares through the other.
    pub(crate) fn split(&mut self) -> (&mut Client, &mut Statements) {
        (&mut self.client, &mut self.statements)
    }
}

/// The statements one connection has prepared, by their text. Prepared statements live as
/// long as the session and outlive any transaction, rolled back or not. The texts are the
/// store's own (a few dozen shapes, the schema's name in each), so the cache stays small.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

impl Statements {
    /// `sql` prepared on `client`'s connection: at the first call, by the server; then from
    /// the cache.
    ///
    /// # Errors
    /// The server's, preparing it.
    pub(crate) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// The pool's manager: `r2d2_postgres`'s, each client given an empty statement cache.
#[derive(Debug)]
pub(crate) struct Manager(pub(crate) PostgresConnectionManager<NoTls>);

/// How long a connection may sit in the pool and still be taken out without a check. A
/// check is a round trip (an empty query, about 80 µs here, as long as a read); a connection
/// used within the last second is taken as it is, and one that idled longer, as through a
/// server's restart, is checked first, and replaced when the server dropped it.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            statements: Statements::default(),
            returned: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        if conn.returned.elapsed() < TRUSTED_FOR && !conn.client.is_closed() {
            return Ok(());
        }
        self.0.is_valid(&mut conn.client)
    }

    /// Called as the connection goes back to the pool.
    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.returned = Instant::now();
        self.0.has_broken(&mut conn.client)
    }
}
