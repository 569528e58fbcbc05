-- The fused time series with who, when and where: every row of emotion_windows with the
-- patient, session, recording date, site and trial arm of its session (no join needed).
with src_emotion_windows as (
    select * from emotion_windows
),

final as (
    select
        c.* exclude (recording_sha256),
        f.*
    from src_emotion_windows as f
    left join v_session_context as c on c.recording_sha256 = f.recording_sha256
)

select * from final
