//! `/admin/apps`: the apps that sign their users in through gatehouse (the OpenID
//! Provider's clients). `Register an app` shows a confidential app's secret once, as
//! `New secret` does; `New secret` and `Delete` are asked again. The admin API's flows.

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, web};
use askama::Template;
use gatehouse_app::clients::{ClientError, delete_client, register_client, renew_secret_replacing};
use gatehouse_domain::{ClientId, ClientRequest, OauthClient};
use gatehouse_persistence::StoredClient;
use serde::Deserialize;

use super::{ConfirmForm, DAY, DoneQuery, admin_for_change, admin_user, confirm, version_of};
use crate::{
    extract::Audit,
    oauth::clients::refused,
    pages::{Frame, PageContext, PageForm, csrf_field, error_page, problem_text, see_other},
    state::AppState,
};

const TITLE: &str = "Apps";
const HERE: &str = "/admin/apps";

/// One app as the list shows it.
struct AppLine {
    id: String,
    name: String,
    kind: &'static str,
    first_party: bool,
    redirect_uris: Vec<String>,
    registered: String,
}

impl From<OauthClient> for AppLine {
    fn from(client: OauthClient) -> Self {
        Self {
            id: client.id.as_str().to_owned(),
            kind: client.settings.client_type.as_str(),
            first_party: client.settings.first_party,
            redirect_uris: client
                .settings
                .redirect_uris
                .iter()
                .map(|uri| uri.as_str().to_owned())
                .collect(),
            registered: client.created_at.format(DAY).to_string(),
            name: client.settings.name,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin_apps.html")]
struct AppsPage {
    page: Frame,
    apps: Vec<AppLine>,
    /// Whether apps can sign users in now (the provider has a key to sign with).
    provider_on: bool,
    form: AppForm,
}

/// `GET /admin/apps`.
pub async fn apps(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<DoneQuery>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let mut context = PageContext::new(&state, &request, TITLE);
    if query.done.as_deref() == Some("deleted") {
        context = context.with_notice("The app is deleted.");
    }
    page(
        &state,
        &request,
        context,
        StatusCode::OK,
        AppForm::default(),
    )
    .await
}

async fn page(
    state: &AppState,
    request: &HttpRequest,
    context: PageContext,
    status: StatusCode,
    form: AppForm,
) -> HttpResponse {
    let apps = match state.oauth_clients.list().await {
        Ok(apps) => apps,
        Err(error) => return error_page(state, request, &error.into()),
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        state,
        status,
        &AppsPage {
            page,
            apps: apps.into_iter().map(AppLine::from).collect(),
            provider_on: state.provider.is_some(),
            form,
        },
    )
}

/// `Register an app`: redirect URIs one a line.
#[derive(Deserialize, Default)]
pub struct AppForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    client_type: String,
    #[serde(default)]
    first_party: Option<String>,
}

csrf_field!(AppForm);

impl AppForm {
    fn request(&self) -> ClientRequest {
        ClientRequest {
            name: Some(self.name.clone()),
            redirect_uris: self
                .redirect_uris
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
            post_logout_redirect_uris: Vec::new(),
            client_type: Some(self.client_type.trim().to_owned()).filter(|kind| !kind.is_empty()),
            first_party: self.first_party.is_some(),
            grant_types: Vec::new(),
        }
    }

    fn is_public(&self) -> bool {
        self.client_type == "public"
    }
}

#[derive(Template)]
#[template(path = "pages/admin_secret.html")]
struct SecretPage {
    page: Frame,
    name: String,
    client_id: String,
    secret: Option<String>,
}

/// The page that shows an app's id and, this once, its secret.
fn secret_page(
    state: &AppState,
    request: &HttpRequest,
    title: &'static str,
    (name, client_id, secret): (String, String, Option<String>),
) -> HttpResponse {
    let (page, cookie) = PageContext::new(state, request, title).into_parts();
    PageContext::render(
        cookie,
        state,
        StatusCode::OK,
        &SecretPage {
            page,
            name,
            client_id,
            secret,
        },
    )
}

/// `POST /admin/apps`: `Register an app`.
pub async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    PageForm(form): PageForm<AppForm>,
) -> HttpResponse {
    let admin = match admin_for_change(&state, &request, HERE).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let acting = admin.as_actor(context);
    match register_client(&state.oauth_clients, &acting, form.request()).await {
        Ok((client, secret)) => secret_page(
            &state,
            &request,
            "App registered",
            (
                client.settings.name,
                client.id.as_str().to_owned(),
                secret.map(|secret| secret.0),
            ),
        ),
        Err(error) => {
            let error = refused(error);
            if error.status_code().is_server_error() {
                return error_page(&state, &request, &error);
            }
            let context =
                PageContext::new(&state, &request, TITLE).with_problem(problem_text(&error));
            let form = AppForm {
                csrf: String::new(),
                ..form
            };
            page(&state, &request, context, error.status_code(), form).await
        }
    }
}

/// The app of the path, or the apps page saying there is none.
async fn app_of(
    state: &AppState,
    request: &HttpRequest,
    raw_id: &str,
) -> Result<StoredClient, HttpResponse> {
    let found = match ClientId::parse(raw_id) {
        Some(id) => state.oauth_clients.find(&id).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => Err(not_found(state, request).await),
        Err(error) => Err(error_page(state, request, &error.into())),
    }
}

/// `POST /admin/apps/{client_id}/secret`: `New secret`, asked first.
pub async fn new_secret(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> HttpResponse {
    let admin = match admin_for_change(&state, &request, HERE).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let (client, secret_hash) = match app_of(&state, &request, &raw_id).await {
        Ok(stored) => (stored.client, stored.secret_hash.unwrap_or_default()),
        Err(answer) => return answer,
    };
    // Which secret the question is about (a digest of the stored digest: the page shows
    // nothing a secret could be read from).
    let version = version_of(&secret_hash);
    let id = client.id.as_str().to_owned();
    if !form.is_confirmed() {
        return confirm(
            &state,
            &request,
            (
                "Give this app a new secret?",
                format!(
                    "The secret {} uses now stops working at once; the new one is shown once.",
                    client.settings.name
                ),
            ),
            (
                format!("/admin/apps/{id}/secret"),
                "New secret",
                HERE.to_owned(),
            ),
            vec![("version", version)],
        );
    }
    if form.version != version {
        return secret_changed(&state, &request).await;
    }
    let acting = admin.as_actor(context);
    // Only while the secret is still the one asked about: of two answers sent at once,
    // one renews.
    match renew_secret_replacing(&state.oauth_clients, &acting, &client.id, &secret_hash).await {
        Ok(secret) => secret_page(
            &state,
            &request,
            "New secret",
            (client.settings.name, id, Some(secret.0)),
        ),
        Err(ClientError::NotFound) => not_found(&state, &request).await,
        Err(ClientError::SecretChanged) => secret_changed(&state, &request).await,
        Err(error) => {
            let error = refused(error);
            if error.status_code().is_server_error() {
                return error_page(&state, &request, &error);
            }
            let context =
                PageContext::new(&state, &request, TITLE).with_problem(problem_text(&error));
            page(
                &state,
                &request,
                context,
                error.status_code(),
                AppForm::default(),
            )
            .await
        }
    }
}

/// `POST /admin/apps/{client_id}/delete`: asked first.
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    Audit(context): Audit,
    raw_id: web::Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> HttpResponse {
    let admin = match admin_for_change(&state, &request, HERE).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let client = match app_of(&state, &request, &raw_id).await {
        Ok(stored) => stored.client,
        Err(answer) => return answer,
    };
    let id = client.id.as_str().to_owned();
    if !form.is_confirmed() {
        return confirm(
            &state,
            &request,
            (
                "Delete this app?",
                format!(
                    "{} can no longer sign anyone in through gatehouse.",
                    client.settings.name
                ),
            ),
            (
                format!("/admin/apps/{id}/delete"),
                "Delete",
                HERE.to_owned(),
            ),
            Vec::new(),
        );
    }
    let acting = admin.as_actor(context);
    match delete_client(&state.oauth_clients, &acting, &client.id).await {
        Ok(()) => see_other("/admin/apps?done=deleted"),
        Err(ClientError::NotFound) => not_found(&state, &request).await,
        Err(error) => error_page(&state, &request, &refused(error)),
    }
}

/// The apps page saying that a confirmation came for a secret renewed since.
async fn secret_changed(state: &AppState, request: &HttpRequest) -> HttpResponse {
    let context = PageContext::new(state, request, TITLE).with_problem(
        "The app changed after the question was asked (was the page sent twice?); no new secret was made.",
    );
    page(
        state,
        request,
        context,
        StatusCode::CONFLICT,
        AppForm::default(),
    )
    .await
}

/// The apps page saying that no app has the id (deleted meanwhile, or never made).
async fn not_found(state: &AppState, request: &HttpRequest) -> HttpResponse {
    let context = PageContext::new(state, request, TITLE).with_problem("Client not found.");
    page(
        state,
        request,
        context,
        StatusCode::NOT_FOUND,
        AppForm::default(),
    )
    .await
}
