//! `POST /v1/files/attach` (a CSV, or a JSON array of objects, kept in memory) and
//! `POST /v1/sms/batch` (§3.4): each row of a `batches` file becomes one `/send` from
//! `global.agent_number`, sent in the background at `--batch-rate` rows per second of
//! simulator time (`engine::batch`).

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{channel, require_enterprise};
use crate::base::error::ApiError;
use crate::base::input::{self, de_object_or_array, de_url};
use crate::base::reply::Reply;
use crate::base::validation::{e164, Channel};
use crate::engine;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::scenario::template::Template;
use crate::state::model::{
    Batch, BatchGlobal, FileRow, Files, NumberRecord, RowResult, Rows, StoredFile, Table,
    RESULT_BYTES,
};

fn invalid_file(why: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_FILE", why)
}

/// The rows of a CSV (a header line, then one row per line) or of a JSON array of objects,
/// refused as soon as they would hold more than `room` bytes.
fn parse_rows(bytes: &[u8], room: usize, files: &Files) -> Result<Rows, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid_file("The file is not UTF-8 text: send a CSV or a JSON array"))?;
    let rows = if text.trim_start().starts_with('[') {
        let v: Value = crate::base::input::from_str(text)
            .map_err(|e| invalid_file(format!("The file is not a JSON array of objects: {e}")))?;
        json_rows(v, room, files)?
    } else {
        csv_rows(text, room, files)?
    };
    if rows.is_empty() {
        return Err(invalid_file("The file has no rows"));
    }
    Ok(rows)
}

fn json_rows(v: Value, room: usize, files: &Files) -> Result<Rows, ApiError> {
    let Value::Array(items) = v else {
        return Err(invalid_file("The rows must be a JSON array of objects"));
    };
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(m) => Ok(m),
            _ => Err(invalid_file(format!(
                "Row {} is not an object: each row is {{\"phone_number\": …, …}}",
                i + 1
            ))),
        })
        .collect::<Result<Vec<FileRow>, ApiError>>()?;
    let rows = Rows::Objects(rows);
    if rows.held() > room {
        return Err(too_large(rows.held(), room, files));
    }
    Ok(rows)
}

/// A CSV's rows, counted while they are read: the cells go into one text, the column names
/// are kept once.
fn csv_rows(text: &str, room: usize, files: &Files) -> Result<Rows, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid_file(format!("The CSV's header line cannot be read: {e}")))?;
    if headers.iter().any(str::is_empty) {
        return Err(invalid_file(
            "Every CSV column needs a name in the header line",
        ));
    }
    let mut table = Table {
        columns: headers.iter().map(Box::from).collect(),
        ..Table::default()
    };
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| invalid_file(format!("The CSV cannot be read: {e}")))?;
        if !more {
            break;
        }
        rows += 1;
        for cell in record.iter() {
            table.text.push_str(cell);
            let end = u32::try_from(table.text.len())
                .map_err(|_| too_large(table.text.len(), room, files))?;
            table.ends.push(end);
        }
        let held = table.held() + rows * RESULT_BYTES;
        if held > room {
            return Err(too_large(held, room, files));
        }
    }
    table.text.shrink_to_fit();
    table.ends.shrink_to_fit();
    Ok(Rows::Table(table))
}

/// 413 for a file that would hold more than the account may still keep.
fn too_large(held: usize, room: usize, files: &Files) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "FILE_STORAGE_FULL",
        format!(
            "The file would hold at least {held} bytes in memory (its rows, and the report a \
             batch of it keeps), more than the {room} this account may still keep: the bound is \
             {} bytes per account (--files-bytes) or {} in all; POST /_sim/reset to start \
             over, or send fewer rows",
            files.limit,
            files.total_limit()
        ),
    )
}

/// The file and its `file_type` from a multipart form.
async fn from_form(
    req: &Req,
    boundary: String,
) -> Result<(Option<String>, Option<Bytes>), ApiError> {
    let mut form = multer::Multipart::with_reader(req.body.as_ref(), boundary);
    let (mut file_type, mut file) = (None, None);
    let broken = |e: multer::Error| {
        ApiError::bad_request(
            "INVALID_BODY",
            format!("The multipart form cannot be read: {e}"),
        )
    };
    while let Some(field) = form.next_field().await.map_err(broken)? {
        match field.name() {
            Some("file_type") => file_type = Some(field.text().await.map_err(broken)?),
            Some("file") => file = Some(field.bytes().await.map_err(broken)?),
            _ if field.file_name().is_some() && file.is_none() => {
                file = Some(field.bytes().await.map_err(broken)?)
            }
            _ => {}
        }
    }
    Ok((file_type, file))
}

/// `POST /v1/files/attach`: a multipart form (`file`, `file_type`) or a JSON body
/// `{"file_type", "rows"}` (`rows`: an array of objects, or CSV text).
pub(crate) async fn attach(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let content_type = req.header(hyper::header::CONTENT_TYPE).unwrap_or("");
    let room = app.files.room(key);
    let (file_type, rows) = if content_type.starts_with("multipart/form-data") {
        from_multipart(app, req, content_type, room).await?
    } else {
        from_json(app, req, room)?
    };
    let file_type = file_type.filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "MISSING_FILE_TYPE",
            "file_type is required: \"batches\" for a file POST /v1/sms/batch sends",
        )
    })?;
    if file_type.len() > 64 {
        return Err(ApiError::invalid(
            "file_type is a short name (at most 64 bytes), such as \"batches\"",
        ));
    }
    let bytes = rows.held() + file_type.len() + key.len();
    let id = app.store.ids().uuid();
    let count = rows.len();
    let stored = StoredFile {
        account: key.to_string(),
        file_type: file_type.clone(),
        rows: Arc::new(rows),
        bytes,
    };
    // Counted while read against the room there was then; another upload may have taken it
    // meanwhile, and the same refusal says so.
    app.files
        .add(id.clone(), stored)
        .map_err(|_| too_large(bytes, app.files.room(key), &app.files))?;
    Ok(Reply::ok(json!({
        "file_id": id,
        "file_type": file_type,
        "rows": count,
        "bytes": bytes,
    })))
}

/// A multipart upload's `file_type` and rows.
///
/// # Errors
/// 400 `INVALID_BODY`, `MISSING_FILE`, `INVALID_FILE`; 413 `FILE_STORAGE_FULL`.
async fn from_multipart(
    app: &App,
    req: &Req,
    content_type: &str,
    room: usize,
) -> Result<(Option<String>, Rows), ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        ApiError::bad_request(
            "INVALID_BODY",
            format!("The multipart form has no boundary: {e}"),
        )
    })?;
    let (file_type, file) = from_form(req, boundary).await?;
    let file = file.ok_or_else(|| {
        ApiError::bad_request("MISSING_FILE", "Send the file as the form field `file`")
    })?;
    Ok((file_type, parse_rows(&file, room, &app.files)?))
}

/// A JSON body's `file_type` and rows (`rows`, `data` or `file`: an array of objects, or CSV
/// text).
///
/// # Errors
/// 400 `INVALID_JSON`, `INVALID_PARAMETER`, `MISSING_FILE`, `INVALID_FILE`; 413
/// `FILE_STORAGE_FULL`.
fn from_json(app: &App, req: &Req, room: usize) -> Result<(Option<String>, Rows), ApiError> {
    let mut body = req.json_object()?;
    let file_type = match body.get("file_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "file_type must be a string, such as \"batches\"",
            ))
        }
    };
    req.ignored(
        "body field",
        unknown(&body, &["file_type", "rows", "data", "file"]),
    )?;
    // Taken out of the body, not copied: the rows may be most of a large upload.
    let given = ["rows", "data", "file"]
        .into_iter()
        .find_map(|k| body.as_object_mut().and_then(|m| m.remove(k)));
    let rows = match given {
        Some(Value::String(csv)) => parse_rows(csv.as_bytes(), room, &app.files)?,
        Some(v @ Value::Array(_)) => json_rows(v, room, &app.files)?,
        Some(_) => return Err(invalid_file("`rows` is an array of objects, or CSV text")),
        None => {
            return Err(ApiError::bad_request(
                "MISSING_FILE",
                "Send the rows as `rows` (an array of objects, or CSV text), or upload the \
                 file as a multipart form field `file`",
            ))
        }
    };
    if rows.is_empty() {
        return Err(invalid_file("The file has no rows"));
    }
    Ok((file_type, rows))
}

/// The keys of a JSON object that are not `known`.
fn unknown(v: &Value, known: &[&str]) -> Vec<String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .filter(|k| !known.contains(&k.as_str()))
        .collect()
}

/// The fields `global` takes.
const GLOBAL_FIELDS: [&str; 9] = [
    "agent_number",
    "agent_message",
    "request_data",
    "metadata",
    "disposition_ids",
    "citation_schema_ids",
    "pathway_id",
    "channel",
    "webhook",
];

/// `global`'s fields as typed.
#[derive(Deserialize)]
struct GlobalBody {
    agent_number: Option<String>,
    agent_message: Option<String>,
    #[serde(default, deserialize_with = "de_object_or_array")]
    request_data: Option<Value>,
    metadata: Option<Map<String, Value>>,
    disposition_ids: Option<Vec<String>>,
    citation_schema_ids: Option<Vec<String>>,
    pathway_id: Option<String>,
    channel: Option<Value>,
    #[serde(default, deserialize_with = "de_url")]
    webhook: Option<String>,
}

fn bad_global(why: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_GLOBAL_FORMAT", why)
}

/// The columns `column_mapping` sends to `request_data`.
fn mapping(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = |why: String| ApiError::bad_request("INVALID_COLUMN_MAPPING_FORMAT", why);
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(column, target)| {
                if column == "phone_number" {
                    Err(bad("phone_number cannot be remapped".into()))
                } else if target != "request_data" {
                    Err(bad(format!(
                        "column_mapping.{column} is {target}: the only target is \"request_data\""
                    )))
                } else {
                    Ok(column.clone())
                }
            })
            .collect(),
        Some(_) => Err(bad(
            "column_mapping is an object of column → \"request_data\"".into(),
        )),
    }
}

/// `POST /v1/sms/batch {file_id, global, column_mapping?}`.
pub(crate) fn batch(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    require_enterprise(app, key)?;
    let body = req.json_object()?;
    let file_id = file_id(&body)?;
    // What Bland would ignore: named in the warning (refused under --strict).
    let mut ignored = unknown(&body, &["file_id", "global", "column_mapping"]);
    if let Some(g) = body.get("global") {
        ignored.extend(
            unknown(g, &GLOBAL_FIELDS)
                .into_iter()
                .map(|k| format!("global.{k}")),
        );
    }
    req.ignored("body field", ignored)?;
    let (g, agent) = global(&body)?;
    let given_channel = g.channel.clone();
    let global = batch_global(g, body.get("column_mapping"))?;
    let file = app
        .files
        .get(key, &file_id)
        .filter(|f| f.file_type == "batches")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "FILE_NOT_FOUND",
                "File not found or invalid file type for SMS batches",
            )
        })?;
    let (number, channel) = sending_number(app, key, &agent, &given_channel)?;
    let rows = file.rows.len();
    let batch = Batch {
        id: file_id.clone(),
        account: key.to_string(),
        agent_number: number.phone_number.clone(),
        channel,
        global: Arc::new(global),
        rows: file.rows,
        started_at: app.now(),
        rate: app.config.batch_rate,
        run: app.batches.next_run(),
        next: 0,
        results: vec![RowResult::Pending; rows],
        sent: 0,
        failed: 0,
    };
    if !engine::batch::start(app, batch) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_BATCHES",
            "The simulator keeps 1,000 batches; POST /_sim/reset to start over",
        ));
    }
    Ok(Reply::ok(json!({
        "message": "SMS batch processing initiated via Temporal workflow",
        "batch_id": file_id,
        "workflow_id": format!("workflow_{}", app.store.ids().uuid()),
    })))
}

/// The body's `file_id`.
///
/// # Errors
/// 400 `MISSING_FILE_ID`, or `INVALID_PARAMETER` for one that is not a string.
fn file_id(body: &Value) -> Result<String, ApiError> {
    match body.get("file_id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ApiError::bad_request(
            "MISSING_FILE_ID",
            "file_id is required",
        )),
        Some(_) => Err(ApiError::invalid(
            "file_id must be a string: the file_id POST /v1/files/attach answered",
        )),
    }
}

/// `global` as typed, and its agent number (E.164).
///
/// # Errors
/// 400 `INVALID_GLOBAL_FORMAT`, `MISSING_AGENT_NUMBER` or `INVALID_PHONE_NUMBER`.
fn global(body: &Value) -> Result<(GlobalBody, String), ApiError> {
    let global = match body.get("global") {
        Some(g @ Value::Object(_)) => g,
        _ => {
            return Err(bad_global(
                "global is required: an object with at least agent_number",
            ))
        }
    };
    let mut g: GlobalBody =
        input::typed(global).map_err(|e| bad_global(format!("global: {}", e.message)))?;
    let agent = g
        .agent_number
        .take()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("MISSING_AGENT_NUMBER", "global.agent_number is required")
        })?;
    e164("global.agent_number", &agent)?;
    Ok((g, agent))
}

/// What every row shares: `global` and the columns `column_mapping` sends to `request_data`.
///
/// # Errors
/// 400 `INVALID_COLUMN_MAPPING_FORMAT`, `INVALID_GLOBAL_FORMAT`.
fn batch_global(g: GlobalBody, column_mapping: Option<&Value>) -> Result<BatchGlobal, ApiError> {
    let to_request_data = mapping(column_mapping)?;
    let agent_message = agent_message(g.agent_message.as_deref())?;
    Ok(BatchGlobal {
        agent_message,
        request_data: match g.request_data {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        },
        metadata: g.metadata,
        webhook: g.webhook,
        disposition_ids: g.disposition_ids,
        citation_schema_ids: g.citation_schema_ids,
        pathway_id: g.pathway_id,
        to_request_data,
    })
}

/// `global.agent_message` as a template, when given.
///
/// # Errors
/// 400 `INVALID_GLOBAL_FORMAT` for a blank one or a bad template.
fn agent_message(text: Option<&str>) -> Result<Option<Template>, ApiError> {
    match text {
        Some(t) if t.trim().is_empty() => Err(bad_global(
            "global.agent_message must not be empty; leave it out to let the agent write the \
             first message",
        )),
        Some(t) => Template::parse(t)
            .map(Some)
            .map_err(|e| bad_global(format!("global.agent_message: {e}"))),
        None => Ok(None),
    }
}

/// The account's agent number and the channel the batch sends on (given, or the number's
/// default), which the number must be configured for.
///
/// # Errors
/// 400 `INVALID_CHANNEL`; 404 `AGENT_NUMBER_NOT_FOUND`.
fn sending_number(
    app: &App,
    key: &str,
    agent: &str,
    given: &Option<Value>,
) -> Result<(Arc<NumberRecord>, Channel), ApiError> {
    let number = app.store.number(agent).filter(|n| n.owner == key);
    let channel_given = channel(given)?;
    number
        .and_then(|n| {
            let ch = channel_given.unwrap_or(n.default_channel());
            n.config(ch).is_some().then_some((n, ch))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "AGENT_NUMBER_NOT_FOUND",
                "Agent number not found or not configured for SMS",
            )
        })
}
