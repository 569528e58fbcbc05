-- The face stream with who, when and where: every row of frames (one per sampled video frame) with the
-- patient, session, recording date, site and trial arm of its session (no join needed).
with src_frames as (
    select * from frames
),

final as (
    select
        c.* exclude (recording_sha256),
        f.*
    from src_frames as f
    left join v_session_context as c on c.recording_sha256 = f.recording_sha256
)

select * from final
