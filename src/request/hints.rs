//! Compatibility hints: what to send instead when a request carries another endpoint's field
//! names (Bland's cookbook, older clients). Bland ignores such fields; the simulator still
//! does, but says so with the fix in the warning, and adds it to a 400 they caused.

/// The hint for an unknown body field `field` of a request to `path`.
pub(crate) fn for_field(path: &str, field: &str) -> Option<&'static str> {
    Some(match (path, field) {
        ("/v1/sms/send", "prompt" | "task") => {
            "/send ignores it: give the conversation's purpose as `objective` (or set the \
             number's prompt with POST /v1/sms/number/update)"
        }
        ("/v1/sms/send", "node_id") => "/send takes `start_node_id`",
        ("/v1/sms/send", "wait") => "/send answers at once; there is nothing to wait for",
        ("/v1/sms/create", "phone_number") => "/create takes the user's number as `user_number`",
        ("/v1/sms/create", "from") => "/create takes the agent's number as `agent_number`",
        ("/v1/sms/create", "prompt") => {
            "/create stores a message and takes no prompt: put the text to store in `message` \
             (and give the agent its instructions with /send's `objective`)"
        }
        ("/v1/sms/create", "agent_message") => "/create takes the text as `message`",
        ("/v1/sms/create", "pathway_id") => "/create takes `curr_pathway_id`",
        ("/v1/sms/create", "pathway_version") => "/create takes `curr_pathway_version`",
        ("/v1/sms/create", "node_id" | "start_node_id") => "/create takes `current_node_id`",
        ("/v1/sms/number/update", "webhook_url") => "number/update takes `webhook`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_mix_ups_get_a_hint() {
        assert!(for_field("/v1/sms/create", "prompt")
            .unwrap()
            .contains("`message`"));
        assert!(for_field("/v1/sms/send", "prompt")
            .unwrap()
            .contains("`objective`"));
        assert_eq!(for_field("/v1/sms/send", "typo"), None);
        assert_eq!(for_field("/v1/sms/analyze", "prompt"), None);
    }
}
