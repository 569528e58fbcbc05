-- Recordings that were not processed, newest first, with a reason a person can read.
with final as (
    select
        quarantined_at,
        source_uri,
        patient_id,
        session_id,
        stage,
        reason,
        error_type,
        recording_sha256,
        run_id
    from quarantine
)

select * from final
order by quarantined_at desc
