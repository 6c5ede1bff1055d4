//! Event payloads as JSON values, binary attachments included: serde_json's own `Value`
//! refuses the byte arrays Socket.IO's binary events carry, which would turn a payload with a
//! `Buffer` field into a decoding error. Bytes become arrays of numbers, as in JSON.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The arguments of an event (or one of them), as JSON.
pub struct Payload(pub Value);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value or binary data")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Payload, E> {
        Ok(Payload(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Payload, E> {
        Ok(Payload(Value::Number(value.into())))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Payload, E> {
        Ok(Payload(Value::Number(value.into())))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Payload, E> {
        Ok(Payload(
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, value: &str) -> Result<Payload, E> {
        Ok(Payload(Value::String(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Payload, E> {
        Ok(Payload(Value::String(value)))
    }

    fn visit_bytes<E>(self, value: &[u8]) -> Result<Payload, E> {
        Ok(Payload(Value::Array(
            value.iter().map(|byte| Value::from(*byte)).collect(),
        )))
    }

    fn visit_none<E>(self) -> Result<Payload, E> {
        Ok(Payload(Value::Null))
    }

    fn visit_unit<E>(self) -> Result<Payload, E> {
        Ok(Payload(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Payload, D::Error> {
        Payload::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut items = Vec::new();
        while let Some(Payload(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Payload(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut fields = Map::new();
        while let Some((key, Payload(value))) = map.next_entry::<String, Payload>()? {
            fields.insert(key, value);
        }
        Ok(Payload(Value::Object(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_round_trips() {
        let json = r#"{"room":"r","n":-3,"f":1.5,"ok":true,"none":null,"list":[1,"a"]}"#;
        let Payload(value) = serde_json::from_str(json).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(json).unwrap());
    }
}
