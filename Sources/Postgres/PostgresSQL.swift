/// SQL that more than one store writes the same way.
public enum PostgresSQL {
    /// The `timestamptz` expression `column` as UTC ISO 8601 text with microseconds
    /// (`2026-12-04T20:06:34.315123Z`), what the REST APIs answer.
    public static func utcTime(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }
}
