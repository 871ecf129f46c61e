//! Any body with any content type through the JSON body extractor and on into the domain
//! types, as `POST /auth/register` and `PATCH /users/{id}` see them: never a panic, and
//! every refusal is a 4xx problem.
#![no_main]

use actix_web::{FromRequest, ResponseError, http::header, test::TestRequest};
use gatehouse_web::{
    ApiError, JsonBody,
    admin::dto::UserPatchIn,
    signin::dto::{RegisterIn, Registration},
};
use libfuzzer_sys::fuzz_target;

/// Content types the first input byte chooses from; the rest of the input is the body.
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/problem+json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
];

fn extract<T: serde::de::DeserializeOwned + 'static>(
    content_type: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    let (request, mut payload) = TestRequest::post()
        .insert_header((header::CONTENT_TYPE, content_type))
        .set_payload(body.to_vec())
        .to_http_parts();
    futures_executor::block_on(JsonBody::<T>::from_request(&request, &mut payload))
        .map(|JsonBody(value)| value)
}

fn assert_client_error(error: &ApiError) {
    let response = error.error_response();
    assert!(
        response.status().is_client_error(),
        "{error:?} answered {}",
        response.status()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    match extract::<RegisterIn>(content_type, body) {
        Ok(register) => {
            if let Err(error) = Registration::try_from(register) {
                assert_client_error(&error);
            }
        }
        Err(error) => assert_client_error(&error),
    }
    if let Err(error) = extract::<UserPatchIn>(content_type, body) {
        assert_client_error(&error);
    }
});
