//! Instances started together against a fresh database take turns at the migrations
//! (`MIGRATE_ON_START`): both start, and each migration ran once.

use migration::MigratorTrait;
use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Query},
};

use crate::helpers::{Backend, TestDatabase, start_instance};

backend_tests!(two_instances_started_together_on_a_fresh_database_both_start_and_migrate_once);

async fn two_instances_started_together_on_a_fresh_database_both_start_and_migrate_once(
    backend: Backend,
) {
    let database = TestDatabase::create(&backend).await;
    let (first, second) = tokio::join!(
        start_instance(&database.url, &[]),
        start_instance(&database.url, &[])
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    for address in [&first, &second] {
        let health = reqwest::get(format!("{address}/health")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{address}");
    }
    let db = sea_orm::Database::connect(database.url.as_str())
        .await
        .unwrap();
    let select = Query::select()
        .column(Alias::new("version"))
        .from(Alias::new("seaql_migrations"))
        .to_owned();
    let mut applied: Vec<String> = db
        .query_all(&select)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "version").unwrap())
        .collect();
    applied.sort();
    let expected = migration::Migrator::migrations().len();
    assert_eq!(applied.len(), expected, "{applied:?}");
    applied.dedup();
    assert_eq!(applied.len(), expected, "a migration ran twice");
}
