-- The transcript stream with who, when and where: every row of utterances with the
-- patient, session, recording date, site and trial arm of its session (no join needed).
with src_utterances as (
    select * from utterances
),

final as (
    select
        c.* exclude (recording_sha256),
        f.*
    from src_utterances as f
    left join v_session_context as c on c.recording_sha256 = f.recording_sha256
)

select * from final
