//! Events on an EventBridge bus: how the scheduled audit publishes its findings.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{Aws, AwsError, sdk_call};
use crate::deadline::Deadline;

/// One event to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its `detail-type`.
    pub detail_type: String,
    /// Its `detail`: a JSON object.
    pub detail: String,
    /// The ARNs it concerns.
    pub resources: Vec<String>,
}

/// `PutEvents` takes at most this many entries a call.
const ENTRIES_PER_CALL: usize = 10;

impl Aws {
    /// Puts `events` from `source` on `bus` (the account's default bus when `None`), ten a
    /// call; the entries EventBridge fails are put once more.
    pub async fn put_events(
        &self,
        bus: Option<&str>,
        source: &str,
        events: &[Event],
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        let client = aws_sdk_eventbridge::Client::new(&self.base);
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let mut entries: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|event| {
                    PutEventsRequestEntry::builder()
                        .set_event_bus_name(bus.map(str::to_owned))
                        .source(source)
                        .detail_type(&event.detail_type)
                        .detail(&event.detail)
                        .set_resources(Some(event.resources.clone()))
                        .build()
                })
                .collect();
            for attempt in 0..2 {
                let action = format!("putting {} events on the bus", entries.len());
                let put = sdk_call(deadline, &action, AwsError::is_transient, || {
                    client
                        .put_events()
                        .set_entries(Some(entries.clone()))
                        .send()
                })
                .await?;
                // Each result answers the entry of its position; a failed one has an
                // error code.
                let failed: Vec<PutEventsRequestEntry> = put
                    .entries()
                    .iter()
                    .zip(&entries)
                    .filter(|(result, _)| result.error_code().is_some())
                    .map(|(_, entry)| entry.clone())
                    .collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(AwsError::partly_done(
                        action,
                        format!("EventBridge refused {} of the events", failed.len()),
                    ));
                }
                entries = failed;
            }
        }
        Ok(())
    }
}
